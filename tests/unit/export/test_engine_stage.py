"""The engine stage's plan and its rows in bench, with stand-in stage records (no TensorRT needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_config
from yolopress.bench.stage import artifacts
from yolopress.config import load_config
from yolopress.export import engine_stage
from yolopress.export.tensorrt import INSTALL_HINT, TensorRTUnavailable
from yolopress.pipeline import StageContext, StageRecord


def _rec(name, outputs, metrics=None):
    return StageRecord(name, Path("/runs/x") / name, outputs, metrics or {}, "0")


def _ctx(tmp_path, inputs, *overrides):
    cfg = load_config(write_config(tmp_path / "c.yaml"), list(overrides))
    return StageContext(cfg, Path("/runs/x"), tmp_path / "out", inputs)


def test_int8_comes_from_the_qat_model_when_there_is_one(tmp_path):
    inputs = {
        "prune": _rec("prune", {"model": "model.pt"}),
        "qat": _rec("qat", {"tensorrt": "t/model.onnx", "tensorrt.model": "t/model.pt"}, {"source": "prune"}),
    }
    ctx = _ctx(tmp_path, inputs, "engine.precisions=[int8,fp16]")
    assert engine_stage.plan(ctx) == [("qat", "int8", True), ("prune", "fp16", False)]


def test_without_qat_int8_is_calibrated_from_the_last_student(tmp_path):
    inputs = {"native": _rec("native", {"model": "m.pt"}), "distill": _rec("distill", {"model": "m.pt"})}
    ctx = _ctx(tmp_path, inputs, "engine.precisions=[int8,fp32]")
    assert engine_stage.plan(ctx) == [("distill", "int8", False), ("distill", "fp32", False)]
    qat_for_openvino_only = _rec("qat", {"openvino": "o"}, {"source": "distill"})
    ctx = _ctx(tmp_path, {**inputs, "qat": qat_for_openvino_only}, "engine.precisions=[int8]")
    assert engine_stage.plan(ctx) == [("distill", "int8", False)]


def test_engines_become_tensorrt_rows_in_bench(tmp_path):
    inputs = {
        "prune": _rec("prune", {"model": "model.pt"}),
        "qat": _rec("qat", {"tensorrt.model": "t/model.pt"}, {"source": "prune"}),
        "engine": _rec("engine", {"qat.int8": "qat/int8.engine", "prune.fp16": "prune/fp16.engine"}),
    }
    rows = [a for a in artifacts(_ctx(tmp_path, inputs, "engine.cuda_graph=false")) if a["runtime"] == "tensorrt"]
    assert [(r["model"], r["precision"], r["pt"], r["format"]) for r in rows] == [
        ("qat", "int8", "prune", "engine"),
        ("prune", "fp16", "prune", "engine"),
    ]
    assert rows[0]["path"] == Path("/runs/x/engine/qat/int8.engine") and rows[0]["options"] == {"cuda_graph": False}
    off = _ctx(tmp_path, inputs, "bench.runtimes=[onnxruntime]")
    assert not any(a["runtime"] == "tensorrt" for a in artifacts(off))


def test_status_says_why_engines_cannot_be_built(monkeypatch):
    def missing():
        raise TensorRTUnavailable(INSTALL_HINT)

    monkeypatch.setattr(engine_stage, "import_tensorrt", missing)
    assert engine_stage.tensorrt_status() == (None, None, INSTALL_HINT)


def test_engine_config_refuses_fp32_on_the_dla(tmp_path):
    from yolopress.config import ConfigError

    with pytest.raises(ConfigError, match="DLA runs FP16 and INT8 only"):
        load_config(write_config(tmp_path / "c.yaml"), ["engine.dla_core=0", "engine.precisions=[fp32]"])
