"""prune.speedup through the pipeline: the stage times its probes at the deployment size (the largest bench size),
prunes to the smallest share that meets the ratio, and records where and how fast. The timer is replaced by the
model's MACs at the timed size, so the search is deterministic here (real timings: test_measure_latency_*)."""

import json

import pytest

from tests.conftest import write_config
from yolopress.config import load_config
from yolopress.pipeline import Pipeline


def test_speedup_target_prunes_at_the_deployment_size(tmp_path, monkeypatch):
    import yolopress.compress.prune_stage as stage
    from yolopress.compress.prune import count_macs

    timed = []

    def macs_as_latency(pt, runtime, imgsz, threads, work):
        timed.append((runtime, imgsz))
        return count_macs(stage.load_model(pt), imgsz)[0] / 1e6

    monkeypatch.setattr(stage, "measure_latency", macs_as_latency)
    cfg = load_config(
        write_config(
            tmp_path / "speedup.yaml",
            teacher=None,
            distill=None,
            control=None,
            prune={"speedup": 1.5, "runtime": "openvino", "teacher": "none", "steps": 1, "step_epochs": 0, "epochs": 0},
            qat=None,
            export=None,
            bench={"imgsz": [64, 256]},
            report=None,
        )
    )
    records = Pipeline(cfg, tmp_path / "runs").run(until="prune")
    m = records["prune"].metrics
    assert set(timed) == {("openvino", 256)} and m["latency_imgsz"] == 256
    assert m["speedup"] >= 1.5 and m["speedup"] == pytest.approx(m["unpruned_latency_ms"] / m["latency_ms"], 1e-3)
    assert 0 < m["macs_removed"] < 0.5 and len(m["latency_probes"]) >= 3
    summary = json.loads((records["prune"].dir / "stage.json").read_text())["summary"]
    assert "at 256 px" in summary and "1.5x the unpruned speed" in summary

    # the same target timed at another size is another result; a MACs target's key has no timing in it
    again = load_config(tmp_path / "speedup.yaml", ["prune.latency_imgsz=128"])
    assert Pipeline(again, tmp_path / "runs").run(until="prune")["prune"].metrics["latency_imgsz"] == 128
    assert timed[-1] == ("openvino", 128)
