"""A bundle on its device reuses an engine only if it was built there; one from another GPU or TensorRT
is rebuilt, never loaded. TensorRT and the GPU are stand-ins here (neither exists on these machines)."""

from __future__ import annotations

import types

import pytest

from yolopress import ondevice
from yolopress.export import tensorrt as trt_build
from yolopress.export.tensorrt import EngineMeta
from yolopress.runtime import cuda

ORIN = {"name": "Orin (nvgpu)", "compute_capability": "8.7", "memory_mb": 7620}


def _manifest():
    target = {
        "name": "orin-nano",
        "compute_capability": "8.7",
        "precision": "int8",
        "batches": [1, 8],
        "workspace_mb": 1024,
        "fp16_fallback": True,
        "dla_core": None,
        "gpu_fallback": True,
    }
    return {"target": target, "calibration": None, "names": {"0": "a"}, "imgsz": 64, "onnx": "model.onnx"}


@pytest.fixture
def device(monkeypatch, tmp_path):
    built = []
    monkeypatch.setattr(trt_build, "import_tensorrt", lambda: types.SimpleNamespace(__version__="10.3.0"))
    gpu = types.SimpleNamespace(name=ORIN["name"], compute_capability="8.7", as_dict=lambda: dict(ORIN))
    monkeypatch.setattr(cuda, "gpu_info", lambda: gpu)
    monkeypatch.setattr(trt_build, "build_engine", lambda onnx, engine, *a, **k: built.append(engine))
    (tmp_path / "engine").mkdir()
    return built


def _sidecar(tmp_path, tensorrt: str, gpu: dict) -> None:
    (tmp_path / "engine" / "model.engine").write_bytes(b"plan")
    EngineMeta(64, {0: "a"}, "int8", "explicit", 1, 1, 8, tensorrt, gpu).write(tmp_path / "engine" / "model.engine")


def test_an_engine_built_here_is_reused(device, tmp_path):
    _sidecar(tmp_path, "10.3.0", ORIN)
    assert ondevice.ensure_engine(tmp_path, _manifest()) == tmp_path / "engine" / "model.engine" and device == []


@pytest.mark.parametrize(
    ("tensorrt", "gpu"),
    [("10.0.1", ORIN), ("10.3.0", {**ORIN, "name": "RTX 4090", "compute_capability": "8.9"})],
)
def test_an_engine_from_another_tensorrt_or_gpu_is_rebuilt_not_loaded(device, tmp_path, capsys, tensorrt, gpu):
    _sidecar(tmp_path, tensorrt, gpu)
    ondevice.ensure_engine(tmp_path, _manifest())
    assert device == [tmp_path / "engine" / "model.engine"]
    said = capsys.readouterr()
    assert "rebuilding: " in said.out + said.err and "was built for" in said.out + said.err
