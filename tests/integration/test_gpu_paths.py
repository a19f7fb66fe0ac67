"""The GPU rows of benchmarks/speed.py, tested as far as a CPU machine can: the FP16 ONNX conversion, and the
runners' refusal of a CUDA device they cannot use (the timings themselves need a GPU: marked `gpu`)."""

import json

import numpy as np
import onnx
import pytest

from yolopress.export.fp16 import to_fp16
from yolopress.runtime import load_runner


def _native_onnx(tiny_run):
    _, runs, records = tiny_run
    export = records["export"]
    return export.path("native.onnx")


def test_fp16_conversion_keeps_fp32_io_and_halves_the_weights(tiny_run, tmp_path):
    src = _native_onnx(tiny_run)
    dst = to_fp16(src, tmp_path / "native.fp16.onnx")
    model = onnx.load(str(dst))
    io_types = {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
    assert io_types == {onnx.TensorProto.FLOAT}  # callers feed the FP32 arrays they feed the FP32 model
    weights = [t for t in model.graph.initializer if t.dims and np.prod(t.dims) > 16]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert dst.stat().st_size < 0.6 * src.stat().st_size


def test_fp16_model_agrees_with_fp32(tiny_run, tmp_path):
    src = _native_onnx(tiny_run)
    dst = to_fp16(src, tmp_path / "native.fp16.onnx")
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    with load_runner(src, "onnxruntime", 64) as fp32:
        ref = fp32.infer(x)
    try:
        with load_runner(dst, "onnxruntime", 64) as fp16:
            out = fp16.infer(x)
    except Exception as e:  # the CPU provider lacks FP16 kernels for some ops in some builds; CUDA has them
        pytest.skip(f"this ONNX Runtime CPU build cannot run the FP16 model: {e}")
    boxes, scores = slice(0, 4), slice(4, None)
    assert np.abs(out[:, boxes] - ref[:, boxes]).max() < 0.5  # pixels at 64 px
    assert np.abs(out[:, scores] - ref[:, scores]).max() < 0.02


def test_fp16_refuses_a_quantized_model(tiny_run, tmp_path):
    _, runs, records = tiny_run
    qat = records["qat"]
    if "tensorrt" not in qat.outputs:
        pytest.skip("the tiny run made no Q/DQ ONNX")
    with pytest.raises(ValueError, match="is quantized"):
        to_fp16(qat.path("tensorrt"), tmp_path / "q.fp16.onnx")
    assert not (tmp_path / "q.fp16.onnx").exists()


def test_onnxruntime_on_cuda_without_the_gpu_build_says_what_to_install(tiny_run):
    import onnxruntime as ort

    from yolopress.runtime.onnxruntime import UnsupportedDevice

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(UnsupportedDevice, match=r"yolopress\[gpu\]"):
        load_runner(_native_onnx(tiny_run), "onnxruntime", 64, device="cuda")


def test_torch_fp16_needs_cuda(tiny_run):
    _, runs, records = tiny_run
    with pytest.raises(ValueError, match="FP16 needs a CUDA device"):
        load_runner(records["native"].path("model"), "torch", 64, half=True)


def _speed(tiny_run, out, *extra):
    import subprocess
    import sys
    from pathlib import Path

    _, runs, records = tiny_run
    run = records["export"].path("native.onnx").parents[2]
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"
    cmd = [sys.executable, str(script), "--run", str(run), "--sizes", "64", "--rounds", "1", "--out", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return json.loads(out.read_text())


def test_speed_benchmark_times_every_cpu_artifact_against_native_ort(tiny_run, tmp_path):
    result = _speed(tiny_run, tmp_path / "speed.json", "--gpu", "off")
    rows = result["sizes"]["64"]
    assert rows["native/onnx@onnxruntime"]["speedup_vs_native_fp32_ort"] == 1.0
    assert {"qat/openvino@openvino", "qat/onnx-qdq@onnxruntime", "prune/openvino@openvino"} <= set(rows)
    # native exported with the chain's DFL head beside it: what the export alone buys (no accuracy of its own)
    assert rows["native/onnx-fastdfl@onnxruntime"]["test_map50_95_one_seed"] is None
    assert all(r["p50_ms"] > 0 and r["images_per_s_batch8"] for r in rows.values())  # the INT8 IR at batch 8 too
    assert "gpus" not in result and result["cpu_class"] in ("vnni", "avx2")


@pytest.mark.gpu
def test_speed_benchmark_times_the_gpu_rows(tiny_run, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    (gpu,) = _speed(tiny_run, tmp_path / "speed.json")["gpus"].values()
    rows = gpu["sizes"]["64"]
    assert "native/pytorch-fp16@torch-cuda" in rows and all(r["p50_ms"] > 0 for r in rows.values())
