"""TensorRTRunner's data flow (buffers, copies, CUDA graph replay, checks) on stand-ins for CUDA and TensorRT.

The real TensorRT and GPU path is tests/integration/test_tensorrt.py (skipped without them); this
checks what the runner itself does with whatever TensorRT and cuda-python give it.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.runtime.fake_cuda import FakeCudart, fake_tensorrt
from yolopress.export.tensorrt import EngineMeta, EngineMismatch
from yolopress.runtime import cuda
from yolopress.runtime import tensorrt as trt_runner
from yolopress.runtime.base import UnsupportedBatch

GPU = {"name": "Fake Orin", "compute_capability": "8.7", "memory_mb": 8192}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    cudart = FakeCudart()
    monkeypatch.setattr(cuda, "cudart", lambda: cudart)
    monkeypatch.setattr(trt_runner, "import_tensorrt", lambda: fake_tensorrt(cudart))
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"fake plan")
    meta = dict(imgsz=8, names={0: "a", 1: "b"}, precision="int8", int8="explicit", tensorrt="10.3.0", gpu=GPU)
    EngineMeta(**meta, batch_min=1, batch_opt=1, batch_max=4).write(engine)
    return cudart, engine


def _expected(x, nc=2, anchors=5):
    means = x.reshape(len(x), -1).mean(1)
    return means[:, None, None] * np.arange(1, 5 + nc)[None, :, None] + np.arange(anchors)[None, None, :]


@pytest.mark.parametrize("graph", [False, True])
def test_runner_copies_in_runs_and_copies_out_each_call(fake, graph):
    cudart, engine = fake
    rng = np.random.default_rng(0)
    with trt_runner.TensorRTRunner(engine, imgsz=8, batch=2, cuda_graph=graph) as r:
        assert r.device == "cuda:Fake Orin" and (r.graph is not None) == graph
        for _ in range(3):  # new inputs each time: a replayed graph must copy the new data, not the captured one
            x = rng.random((2, 3, 8, 8), dtype=np.float32)
            np.testing.assert_allclose(r.infer(x), _expected(x), rtol=1e-6)
        assert r.time_infer(x) == 0.25  # the CUDA events' time, not the host clock
        assert cudart.graphs_launched == (4 if graph else 0)
    assert cudart.device == {} and cudart.host == {}  # every buffer freed on close


def test_runner_checks_batch_size_and_shape_before_running(fake):
    _, engine = fake
    with pytest.raises(UnsupportedBatch, match="runs batches 1-4, not 8"):
        trt_runner.TensorRTRunner(engine, imgsz=8, batch=8)
    with pytest.raises(EngineMismatch, match="built for 8 px input, not 16"):
        trt_runner.TensorRTRunner(engine, imgsz=16)
    with trt_runner.TensorRTRunner(engine, imgsz=8, batch=1) as r, pytest.raises(ValueError, match="takes"):
        r.infer(np.zeros((2, 3, 8, 8), np.float32))


def test_runner_refuses_an_engine_from_another_gpu_before_deserializing(fake, monkeypatch):
    cudart, engine = fake
    side = EngineMeta.read(engine)
    side.gpu = {"name": "Tesla T4", "compute_capability": "7.5"}
    side.write(engine)
    engine.write_bytes(b"not a plan for this GPU")  # deserializing would fail: the sidecar check comes first
    with pytest.raises(EngineMismatch, match="compute capability 7.5 \\(Tesla T4\\)"):
        trt_runner.TensorRTRunner(engine, imgsz=8)
    assert cudart.device == {}  # nothing allocated


def test_runner_goes_on_without_a_graph_when_capture_fails(fake, capsys):
    cudart, engine = fake

    def broken(stream, mode):
        return (999,)

    cudart.cudaStreamBeginCapture = broken
    with trt_runner.TensorRTRunner(engine, imgsz=8, cuda_graph=True) as r:
        x = np.ones((1, 3, 8, 8), np.float32)
        np.testing.assert_allclose(r.infer(x), _expected(x))
        assert r.graph is None
    assert "runs without a CUDA graph" in capsys.readouterr().err
