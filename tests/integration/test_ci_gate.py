"""The project's own regression gate: the committed pico model through export, bench and report,
gated against the committed baseline. A change that breaks accuracy or speed fails `make test`.

To refresh the baseline after an intended change: YOLOPRESS_UPDATE_BASELINE=1 make test
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import write_config
from yolopress.bench import gate
from yolopress.bench.schema import load_report
from yolopress.cli import main
from yolopress.config import load_config
from yolopress.pipeline import Pipeline

HERE = Path(__file__).resolve().parents[1]
PICO = HERE / "fixtures" / "pico.pt"
BASELINE = HERE / "baselines" / "pico" / "report.json"
RULES = HERE / "baselines" / "pico" / "gates.yaml"


@pytest.fixture(scope="module")
def pico_report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ci_gate")
    cfg = write_config(
        root / "pico.yaml",
        name="pico",
        imgsz=128,
        data={"synth": {"n_train": 1, "n_val": 1, "n_test": 60, "imgsz": 128}},  # the demo's first 60 test images
        teacher={"weights": str(PICO)},
        native=None,
        distill=None,
        prune=None,
        qat=None,
        bench={"warmup": 5, "min_iters": 30, "min_time_s": 0.5, "batches": [1], "e2e": False, "imgsz": [128]},
    )
    records = Pipeline(load_config(cfg), runs_dir=root / "runs").run()
    path = records["report"].path("report_json")
    if os.environ.get("YOLOPRESS_UPDATE_BASELINE") == "1":
        shutil.copy2(path, BASELINE)
    return path


def test_pico_passes_the_committed_baseline(pico_report):
    checks = gate.evaluate_gate(load_report(pico_report), load_report(BASELINE), gate.load_rules(RULES))
    failed = {c.rule for c in checks if not c.passed}
    if failed == {"speed"}:
        # CI shares 2 cores with whatever else runs there: one burst of load during one artifact's
        # timing window has made a ratio 4x (seen once in a fresh-clone run). A speed failure is
        # re-measured once; an accuracy failure never is.
        root = pico_report.parents[3]
        records = Pipeline(load_config(root / "pico.yaml"), runs_dir=root / "runs").run(force=("bench",))
        checks = gate.evaluate_gate(
            load_report(records["report"].path("report_json")), load_report(BASELINE), gate.load_rules(RULES)
        )
    assert gate.passed(checks), gate.summary(checks)
    assert {c.artifact for c in checks} == {"teacher/pytorch", "teacher/onnx", "teacher/openvino"}
    assert min(c.current for c in checks if c.metric == "map50_95") > 0.05  # a real model, not a vacuous gate


def test_planted_regression_fails_with_rule_and_amount(pico_report, tmp_path, capsys):
    import json

    raw = json.loads(pico_report.read_text())
    row = next(r for r in raw["devices"][0]["rows"] if r["artifact"] == "teacher/openvino")
    row["map50_95"] -= 0.03
    row["latency_ms"]["p50_ms"] *= 5
    planted = tmp_path / "report.json"
    planted.write_text(json.dumps(raw))
    junit = tmp_path / "gate.xml"
    code = main(["gate", str(planted), "--baseline", str(BASELINE), "--rules", str(RULES), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL [accuracy] map50_95 of teacher/openvino on openvino:" in out and "dropped by 0.03" in out
    assert "FAIL [speed] latency_ratio of teacher/openvino on openvino:" in out and "(allowed 200%)" in out
    assert 'failures="2"' in junit.read_text()
