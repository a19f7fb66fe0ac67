"""TensorRT engines of the tiny model, compared with ONNX Runtime on the same ONNX and real test images.

These need TensorRT 10, cuda-python and a CUDA GPU. TensorRT cannot be installed on yolopress's
CI and development machines (its PyPI packages point to NVIDIA's index), so here they skip with
that reason; in the desktop Docker image (Dockerfile) or on a Jetson they run.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.runtime.preprocess import letterbox, to_tensor


def _why_not() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (not installable on these machines; see docs/tensorrt.md)"
    from yolopress.runtime.cuda import CudaError, gpu_info

    try:
        gpu_info()
    except CudaError as e:
        return f"no usable CUDA GPU: {e}"
    return None


REASON = _why_not()
pytestmark = [pytest.mark.tensorrt, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def tiny(tiny_run, tmp_path_factory):
    from yolopress.config import load_config

    cfg_path, _, records = tiny_run
    cfg = load_config(cfg_path)
    data = load_data_yaml(records["data"].path("data_yaml"))
    images = [cv2.imread(str(p)) for p in split_images(data, "test")[:4]]
    x = to_tensor([letterbox(im, cfg.imgsz)[0] for im in images])
    return cfg, records, data, x, tmp_path_factory.mktemp("trt")


def _compare(engine_out: np.ndarray, ort_out: np.ndarray, box_px: float, score: float) -> None:
    assert engine_out.shape == ort_out.shape
    boxes = np.abs(engine_out[:, :4] - ort_out[:, :4])
    scores = np.abs(engine_out[:, 4:] - ort_out[:, 4:])
    assert np.percentile(boxes, 99) <= box_px, f"p99 box difference {np.percentile(boxes, 99):.3f} px"
    assert scores.max() <= score, f"max score difference {scores.max():.4f}"


def _ort(onnx, imgsz, x):
    from yolopress.runtime.onnxruntime import OnnxRuntimeRunner

    with OnnxRuntimeRunner(onnx, imgsz, batch=x.shape[0]) as r:
        return r.infer(x)


def test_fp16_engine_matches_onnxruntime_with_and_without_cuda_graph(tiny):
    from yolopress.export.onnx import export_tensorrt_onnx
    from yolopress.export.tensorrt import EngineMeta, EngineSettings, build_engine
    from yolopress.runtime.tensorrt import TensorRTRunner

    cfg, records, data, x, tmp = tiny
    onnx = export_tensorrt_onnx(records["prune"].path("model"), tmp / "fp32.onnx", cfg.imgsz, 17, [1, 4], False)
    engine = tmp / "fp16.engine"
    meta = build_engine(onnx, engine, EngineSettings("fp16", (1, 4)), cfg.imgsz, data.names, timing_cache=tmp / "tc")
    assert EngineMeta.read(engine) == meta and meta.precision == "fp16" and (meta.batch_min, meta.batch_max) == (1, 4)
    assert (tmp / "tc").stat().st_size > 0  # the timing cache was written for the next build
    expected = _ort(onnx, cfg.imgsz, x)
    for graph in (False, True):
        with TensorRTRunner(engine, cfg.imgsz, batch=4, cuda_graph=graph) as r:
            _compare(r.infer(x), expected, box_px=1.0, score=0.02)
            _compare(r.infer(x), expected, box_px=1.0, score=0.02)  # a second launch reuses the buffers/graph
            assert r.time_infer(x) > 0
    with TensorRTRunner(engine, cfg.imgsz, batch=1) as r:
        _compare(r.infer(x[:1]), expected[:1], box_px=1.0, score=0.02)


def test_int8_engine_from_qat_qdq_matches_onnxruntime(tiny):
    from yolopress.export.tensorrt import EngineSettings, build_engine
    from yolopress.runtime.tensorrt import TensorRTRunner

    cfg, records, data, x, tmp = tiny
    onnx = records["qat"].path("tensorrt")  # static batch 1, checked Q/DQ
    meta = build_engine(onnx, tmp / "int8.engine", EngineSettings("int8", (1,)), cfg.imgsz, data.names)
    assert meta.int8 == "explicit"
    expected = _ort(onnx, cfg.imgsz, x[:1])
    with TensorRTRunner(tmp / "int8.engine", cfg.imgsz, batch=1, cuda_graph=True) as r:
        _compare(r.infer(x[:1]), expected, box_px=1.5, score=0.05)


def test_int8_by_calibration_fills_and_reuses_its_cache(tiny):
    from yolopress.export.tensorrt import CalibrationFeed, EngineSettings, build_engine
    from yolopress.runtime.tensorrt import TensorRTRunner

    cfg, records, data, x, tmp = tiny
    onnx = tmp / "fp32.onnx"
    if not onnx.exists():
        from yolopress.export.onnx import export_tensorrt_onnx

        export_tensorrt_onnx(records["prune"].path("model"), onnx, cfg.imgsz, 17, [1, 4], False)
    feed = CalibrationFeed(split_images(data, "train")[:16], cfg.imgsz, batch=8)
    settings = EngineSettings("int8", (1, 4))
    first = build_engine(onnx, tmp / "cal.engine", settings, cfg.imgsz, data.names, feed, calib_cache=tmp / "cal.cache")
    assert first.int8 == "calibrated" and first.extra["calibration_batches"] == 2
    assert (tmp / "cal.cache").stat().st_size > 0
    again = build_engine(
        onnx, tmp / "cal2.engine", settings, cfg.imgsz, data.names, feed, calib_cache=tmp / "cal.cache"
    )
    assert again.extra["calibration_batches"] == 0  # the cached table was used: no image was fed
    with TensorRTRunner(tmp / "cal2.engine", cfg.imgsz, batch=1) as r:
        _compare(r.infer(x[:1]), _ort(onnx, cfg.imgsz, x[:1]), box_px=3.0, score=0.15)


def test_engine_from_another_tensorrt_is_refused_before_loading(tiny):
    import json

    from yolopress.export.tensorrt import EngineMismatch, EngineSettings, build_engine
    from yolopress.runtime.tensorrt import TensorRTRunner

    cfg, records, data, _, tmp = tiny
    engine = tmp / "old.engine"
    build_engine(records["qat"].path("tensorrt"), engine, EngineSettings("int8", (1,)), cfg.imgsz, data.names)
    side = engine.with_suffix(".json")
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "tensorrt": "8.6.1"}))
    with pytest.raises(EngineMismatch, match="TensorRT 8.6.1"):
        TensorRTRunner(engine, cfg.imgsz)
