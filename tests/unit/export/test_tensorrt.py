"""TensorRT engine building without TensorRT: calibration feeding and cache, the sidecar, mismatch refusal.

TensorRT cannot be installed on these machines; what needs it is in tests/integration/test_tensorrt.py
(marked ``tensorrt``, skipped here). Everything around the TensorRT calls is tested here.
"""

from __future__ import annotations

import importlib.util
import types

import cv2
import numpy as np
import pytest

from yolopress.export.tensorrt import (
    INSTALL_HINT,
    CalibrationCache,
    CalibrationFeed,
    EngineError,
    EngineMeta,
    EngineMismatch,
    EngineSettings,
    TensorRTUnavailable,
    check_compatible,
    entropy_calibrator,
    import_tensorrt,
)
from yolopress.runtime.preprocess import letterbox, to_tensor

ORIN = {"name": "Orin (nvgpu)", "compute_capability": "8.7", "memory_mb": 7620}
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def _images(tmp_path, n, size=(48, 80)):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"img{i}.jpg"
        cv2.imwrite(str(p), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        paths.append(p)
    return paths


class _FakeTrt:
    """Just enough of the tensorrt module for the calibrator: its base class."""

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            self.base_initialised = True


def test_calibration_feed_gives_full_batches_preprocessed_as_deployed(tmp_path):
    paths = _images(tmp_path, 7)
    feed = CalibrationFeed(paths, imgsz=64, batch=3)
    batches = list(feed)
    assert len(feed) == len(batches) == 2  # the 7th image would make a partial batch: dropped
    assert all(b.shape == (3, 3, 64, 64) and b.dtype == np.float32 and b.flags.c_contiguous for b in batches)
    expected = to_tensor([letterbox(cv2.imread(str(p)), 64)[0] for p in paths[3:6]])
    np.testing.assert_array_equal(batches[1], expected)


def test_calibration_feed_errors_name_the_problem(tmp_path):
    with pytest.raises(EngineError, match="at least 8 images"):
        CalibrationFeed(_images(tmp_path, 3), 64, batch=8)
    paths = _images(tmp_path, 2)
    (tmp_path / "broken.jpg").write_text("not an image")
    with pytest.raises(EngineError, match="broken.jpg"):
        list(CalibrationFeed([*paths, tmp_path / "broken.jpg"], 64, batch=3))


def test_entropy_calibrator_feeds_every_batch_then_signals_the_end(tmp_path):
    feed = CalibrationFeed(_images(tmp_path, 4), 64, batch=2)
    uploaded = []

    def upload(x):
        uploaded.append(x.copy())
        return 0x1000 + len(uploaded)  # a fake device pointer

    calib = entropy_calibrator(_FakeTrt, feed, None, upload)
    assert calib.base_initialised and calib.get_batch_size() == 2
    assert calib.get_batch(["images"]) == [0x1001]
    assert calib.get_batch(["images"]) == [0x1002]
    assert calib.get_batch(["images"]) is None  # exhausted: TensorRT stops calibrating
    assert calib.batches_fed == 2 and [u.shape for u in uploaded] == [(2, 3, 64, 64)] * 2
    assert calib.read_calibration_cache() is None and not calib.cache_hit
    calib.write_calibration_cache(b"ignored without a cache")  # no cache configured: nothing to write, no error


def test_calibration_cache_is_reused_only_for_the_same_model_and_images(tmp_path):
    feed = CalibrationFeed(_images(tmp_path, 4), 64, batch=2)
    key = {"onnx_sha256": "abc", **feed.key()}
    path = tmp_path / "calib.cache"
    first = entropy_calibrator(_FakeTrt, feed, CalibrationCache(path, key), lambda x: 1)
    assert first.read_calibration_cache() is None
    first.write_calibration_cache(b"TRT-10-EntropyCalibration2\nimages: 3c010a14\n")
    again = entropy_calibrator(_FakeTrt, feed, CalibrationCache(path, key), lambda x: 1)
    assert again.read_calibration_cache().startswith(b"TRT-10") and again.cache_hit
    other_model = CalibrationCache(path, {**key, "onnx_sha256": "def"})
    assert other_model.read() is None  # a table for another model is never reused
    fewer = CalibrationFeed(_images(tmp_path, 2), 64, batch=2)
    assert CalibrationCache(path, {"onnx_sha256": "abc", **fewer.key()}).read() is None
    (tmp_path / "calib.cache.json").write_text("{broken")
    assert CalibrationCache(path, key).read() is None


def _meta(**changes):
    base = dict(
        imgsz=640,
        names={0: "person", 1: "car"},
        precision="int8",
        int8="explicit",
        batch_min=1,
        batch_opt=1,
        batch_max=4,
        tensorrt="10.3.0",
        gpu=ORIN,
        dla_core=None,
        onnx="model.onnx",
        onnx_sha256="0" * 64,
    )
    return EngineMeta(**{**base, **changes})


def test_sidecar_round_trip_keeps_what_the_engine_was_built_for(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    _meta().write(engine)
    assert (tmp_path / "model.json").is_file()
    back = EngineMeta.read(engine)
    assert back == _meta() and back.names[1] == "car"  # JSON's string keys come back as class ids


def test_missing_or_foreign_sidecar_is_refused(tmp_path):
    engine = tmp_path / "model.engine"
    with pytest.raises(EngineMismatch, match="has no sidecar model.json.*rebuild"):
        EngineMeta.read(engine)
    (tmp_path / "model.json").write_text('{"something": "else"}')
    with pytest.raises(EngineMismatch, match="not a yolopress engine sidecar"):
        EngineMeta.read(engine)


def test_engine_for_this_gpu_and_tensorrt_is_accepted():
    check_compatible(_meta(), "10.3.0", dict(ORIN))


@pytest.mark.parametrize(
    ("version", "gpu", "expected"),
    [
        ("10.7.0", ORIN, "TensorRT 10.3.0, this machine has 10.7.0"),
        ("10.3.0", {"name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}, "compute capability 8.7"),
        ("10.3.0", {"name": "NVIDIA A10", "compute_capability": "8.7"}, "GPU Orin (nvgpu), this one is NVIDIA A10"),
    ],
)
def test_engine_from_another_gpu_or_tensorrt_is_refused(version, gpu, expected):
    with pytest.raises(EngineMismatch) as e:
        check_compatible(_meta(), version, gpu, "engine/model.engine")
    msg = str(e.value)
    assert "engine/model.engine was built for" in msg and expected in msg and "rebuild it on this machine" in msg


def test_both_mismatches_are_named_at_once():
    with pytest.raises(EngineMismatch) as e:
        check_compatible(_meta(), "10.7.0", {"name": "Tesla T4", "compute_capability": "7.5"})
    assert "TensorRT 10.3.0" in str(e.value) and "compute capability 8.7" in str(e.value)


def test_engine_settings_validate_and_give_the_profile():
    assert EngineSettings("int8", (4, 1, 16)).profile == (1, 4, 16)  # min, opt (first listed), max
    with pytest.raises(ValueError, match="DLA runs FP16 and INT8 only"):
        EngineSettings("fp32", dla_core=0)
    with pytest.raises(ValueError, match="precision 'int4'"):
        EngineSettings("int4")
    with pytest.raises(ValueError, match="batch sizes >= 1"):
        EngineSettings("fp16", (0,))


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_without_tensorrt_the_error_says_what_to_install(tmp_path):
    with pytest.raises(TensorRTUnavailable, match="TensorRT 10 is not installed"):
        import_tensorrt()
    assert "python3-libnvinfer" in INSTALL_HINT and "pypi.nvidia.com" in INSTALL_HINT
    from yolopress.runtime import load_runner

    with pytest.raises(TensorRTUnavailable):
        load_runner(tmp_path / "model.engine", "tensorrt", 64)


def test_cuda_errors_name_the_call_and_the_cause(monkeypatch):
    from yolopress.runtime import cuda

    class Err:
        cudaSuccess = 0
        cudaErrorInsufficientDriver = 35

    fake = types.SimpleNamespace(
        cudaError_t=Err,
        cudaGetErrorString=lambda e: (0, b"CUDA driver version is insufficient"),
    )

    def cudaGetDeviceCount():  # noqa: N802 (the CUDA name)
        return (35,)

    monkeypatch.setattr(cuda, "cudart", lambda: fake)
    with pytest.raises(cuda.CudaError) as e:
        cuda.call(cudaGetDeviceCount)
    assert "cudaGetDeviceCount failed" in str(e.value) and "insufficient" in str(e.value)
    assert cuda.INSTALL_HINT in str(e.value)
    assert cuda.call(lambda: (0, 7)) == 7 and cuda.call(lambda: (0,)) is None and cuda.call(lambda: (0, 1, 2)) == (1, 2)
