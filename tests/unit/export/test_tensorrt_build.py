"""The steps of ``build_engine`` on a stand-in for TensorRT: precision checks, the builder config (flags,
workspace, batch profile, DLA, timing cache), calibration set-up and clean-up, the written files, the sidecar.

What only real TensorRT can show (that the parser, the builder and the calibrator do what their
documented API says) is in tests/integration/test_tensorrt.py, marked ``tensorrt``.
"""

from __future__ import annotations

import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolopress.export import tensorrt as trt_build
from yolopress.export.tensorrt import CalibrationFeed, EngineError, EngineSettings

WS, FP16, INT8, GPU_FALLBACK, DLA = "WORKSPACE", "FP16", "INT8", "GPU_FALLBACK", "DLA"


class _Profile:
    def set_shape(self, name, lo, opt, hi):
        self.shape = (name, lo, opt, hi)


class _Config:
    def __init__(self) -> None:
        self.flags, self.pools, self.profiles = set(), {}, []
        self.default_device_type = self.DLA_core = self.int8_calibrator = self.calibration_profile = None

    def set_memory_pool_limit(self, pool, size):
        self.pools[pool] = size

    def set_flag(self, flag):
        self.flags.add(flag)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def create_timing_cache(self, blob):
        return {"blob": bytes(blob)}

    def set_timing_cache(self, cache, ignore_mismatch):
        self.timing_cache, self.ignore_mismatch = cache, ignore_mismatch

    def set_calibration_profile(self, profile):
        self.calibration_profile = profile

    def get_timing_cache(self):
        return types.SimpleNamespace(serialize=lambda: b"tuned tactics")


class _Builder:
    def create_builder_config(self):
        return _Config()

    def create_optimization_profile(self):
        return _Profile()


class _Calibrator:
    def __init__(self) -> None:
        pass


TRT = types.SimpleNamespace(
    __version__="10.7.0",
    MemoryPoolType=types.SimpleNamespace(WORKSPACE=WS),
    BuilderFlag=types.SimpleNamespace(FP16=FP16, INT8=INT8, GPU_FALLBACK=GPU_FALLBACK),
    DeviceType=types.SimpleNamespace(DLA=DLA),
    IInt8EntropyCalibrator2=_Calibrator,
)


def _network(batch=-1):
    inp = types.SimpleNamespace(name="images", shape=(batch, 3, -1, -1))
    return types.SimpleNamespace(get_input=lambda i: inp)


def _config(settings, network=None, imgsz=64, timing_cache=None):
    return trt_build._builder_config(TRT, _Builder(), network or _network(), settings, imgsz, timing_cache)


@pytest.mark.parametrize(
    ("precision", "fallback", "flags"),
    [("fp32", True, set()), ("fp16", True, {FP16}), ("int8", True, {INT8, FP16}), ("int8", False, {INT8})],
)
def test_precision_flags(precision, fallback, flags):
    config, _ = _config(EngineSettings(precision, fp16_fallback=fallback))
    assert config.flags == flags


def test_workspace_profile_and_timing_cache(tmp_path):
    cache = tmp_path / "gpu.timing-cache"
    cache.write_bytes(b"earlier tactics")
    config, profile = _config(EngineSettings("fp16", batches=(4, 1, 8), workspace_mb=512), timing_cache=cache)
    assert config.pools == {WS: 512 << 20}
    assert config.profiles == [profile] and profile.shape == ("images", (1, 3, 64, 64), (4, 3, 64, 64), (8, 3, 64, 64))
    assert config.timing_cache == {"blob": b"earlier tactics"} and config.ignore_mismatch is False
    fresh, _ = _config(EngineSettings("fp16"), timing_cache=tmp_path / "none-yet")
    assert fresh.timing_cache == {"blob": b""}  # a first build starts an empty cache


def test_fixed_batch_onnx_takes_no_profile_and_refuses_other_batches():
    config, profile = _config(EngineSettings("fp16", batches=(1,)), network=_network(batch=1))
    assert profile is None and config.profiles == []
    with pytest.raises(EngineError, match="fixed batch of 1.*dynamic batch"):
        _config(EngineSettings("fp16", batches=(1, 8)), network=_network(batch=1))


def test_dla_core_with_and_without_gpu_fallback():
    config, _ = _config(EngineSettings("int8", dla_core=1))
    assert (config.default_device_type, config.DLA_core) == (DLA, 1) and GPU_FALLBACK in config.flags
    config, _ = _config(EngineSettings("fp16", dla_core=0, gpu_fallback=False))
    assert config.DLA_core == 0 and GPU_FALLBACK not in config.flags


def test_precision_checks_name_the_onnx_and_the_fix():
    onnx = Path("model-qdq.onnx")
    with pytest.raises(EngineError, match="model-qdq.onnx has Q/DQ pairs.*FP32 ONNX"):
        trt_build._check_precision(onnx, EngineSettings("fp16"), explicit=True, calibration=None)
    with pytest.raises(EngineError, match="INT8 needs calibration images"):
        trt_build._check_precision(onnx, EngineSettings("int8"), explicit=False, calibration=None)
    trt_build._check_precision(onnx, EngineSettings("int8"), explicit=True, calibration=None)  # QAT: no calibration


class _Buffer:
    made: list[_Buffer] = []

    def __init__(self, nbytes):
        self.nbytes, self.freed = nbytes, False
        _Buffer.made.append(self)

    def upload(self, x):
        return 0x1000

    def free(self):
        self.freed = True


def _feed(tmp_path, n=8, imgsz=32):
    paths = []
    for i in range(n):
        paths.append(tmp_path / f"{i}.jpg")
        cv2.imwrite(str(paths[-1]), np.full((40, 60, 3), i * 20, np.uint8))
    return CalibrationFeed(paths, imgsz, batch=4)


def test_calibration_is_attached_for_the_build_and_its_buffer_freed_even_on_failure(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"float model")
    config, profile = _config(EngineSettings("int8"), imgsz=32)
    _Buffer.made.clear()
    with trt_build._calibration(TRT, config, profile, onnx, _feed(tmp_path), tmp_path / "calib.cache", _Buffer) as c:
        assert config.int8_calibrator is c and config.calibration_profile is profile
        assert c.get_batch_size() == 4
    assert _Buffer.made[0].nbytes == 4 * 3 * 32 * 32 * 4 and _Buffer.made[0].freed
    with pytest.raises(RuntimeError, match="build failed"):
        with trt_build._calibration(TRT, config, None, onnx, _feed(tmp_path), None, _Buffer):
            raise RuntimeError("build failed")
    assert _Buffer.made[1].freed


def test_plan_and_timing_cache_are_written(tmp_path):
    engine, cache = tmp_path / "sub" / "int8.engine", tmp_path / "gpu.timing-cache"
    trt_build._write_plan(bytearray(b"serialized engine"), engine, _Config(), cache)
    assert engine.read_bytes() == b"serialized engine" and cache.read_bytes() == b"tuned tactics"


def test_sidecar_batch_range_from_the_profile_or_the_fixed_batch(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"q/dq model")
    gpu = types.SimpleNamespace(as_dict=lambda: {"name": "Orin", "compute_capability": "8.7"})
    settings = EngineSettings("int8", batches=(4, 1, 8))
    args = (onnx, settings, 64, {0: "a"}, gpu, True, 12.34, None)
    meta = trt_build._sidecar(TRT, _network(), object(), *args)
    assert (meta.batch_min, meta.batch_opt, meta.batch_max) == (1, 4, 8)
    assert (meta.int8, meta.tensorrt, meta.build_s, meta.onnx) == ("explicit", "10.7.0", 12.3, "model.onnx")
    fixed = trt_build._sidecar(TRT, _network(batch=1), None, *args)
    assert (fixed.batch_min, fixed.batch_opt, fixed.batch_max) == (1, 1, 1)
