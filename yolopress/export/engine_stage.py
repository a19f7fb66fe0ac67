"""The ``engine`` stage: TensorRT engines of the last student, built on this machine's GPU.

Where TensorRT or a CUDA GPU is missing (CI, a laptop, this project's CPU machines) the stage
says so once, with what to install, and the run goes on with the ONNX and OpenVINO artifacts;
its key records the TensorRT version and GPU, so installing TensorRT later builds the engines
on the next ``make deploy``.

- ``int8``: from the QAT Q/DQ ONNX (explicit, ``qat`` row) when the qat stage made one for
  TensorRT; otherwise by entropy calibration of the FP32 student on training images.
- ``fp16`` / ``fp32``: the FP32 student (pruned, else distilled, else native).
"""

from __future__ import annotations

from yolopress import guard, ui
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.export.onnx import export_tensorrt_onnx
from yolopress.export.tensorrt import (
    CalibrationFeed,
    EngineSettings,
    TensorRTUnavailable,
    build_engine,
    import_tensorrt,
)
from yolopress.runtime.cuda import CudaError, gpu_info
from yolopress.stage import StageContext, StageResult, cache_root


def tensorrt_status() -> tuple[str | None, dict | None, str | None]:
    """(TensorRT version, GPU, why engines cannot be built here or None)."""
    try:
        trt = import_tensorrt()
    except TensorRTUnavailable as e:
        return None, None, str(e)
    try:
        gpu = gpu_info().as_dict()
    except CudaError as e:
        return trt.__version__, None, f"TensorRT {trt.__version__} is installed, but no CUDA GPU is usable: {e}"
    return trt.__version__, gpu, None


def status_key(cfg) -> dict:
    """Part of the stage key: a new TensorRT or GPU means new engines."""
    version, gpu, _ = tensorrt_status()
    return {"imgsz": cfg.imgsz, "tensorrt": version, "gpu": gpu, "opset": cfg.opset}


def plan(ctx: StageContext) -> list[tuple[str, str, bool]]:
    """(row name, precision, from the QAT Q/DQ model?) for each engine to build."""
    student = guard.student(ctx.inputs, ctx.cfg, required=False)
    qat = ctx.inputs.get("qat")
    has_qdq = qat is not None and "tensorrt.model" in qat.outputs
    out = []
    for precision in ctx.cfg.engine.precisions:
        if precision == "int8" and has_qdq:
            out.append(("qat", precision, True))
        elif student is not None:
            out.append((student, precision, False))
    return out


def run(ctx: StageContext) -> StageResult:
    ec, imgsz = ctx.cfg.engine, ctx.cfg.imgsz
    version, gpu, reason = tensorrt_status()
    if reason is not None:
        ui.info(f"engine: no TensorRT engines on this machine. {reason}")
        return StageResult({}, {"skipped": reason}, "skipped: TensorRT or a CUDA GPU is missing here")
    data = load_data_yaml(ctx.inputs["data"].path("data_yaml"))
    opset = ctx.cfg.opset
    settings_for = {
        p: EngineSettings(p, tuple(ec.batches), ec.workspace_mb, ec.fp16_fallback, ec.dla_core, ec.gpu_fallback)
        for p in ec.precisions
    }
    timing_cache = cache_root() / "tensorrt" / f"{gpu['name'].replace(' ', '_')}-trt{version}.timing-cache"
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    outputs, engines = {}, {}
    jobs = plan(ctx)
    with ctx.progress(len(jobs), "engine", "engine") as bar:
        for name, precision, qdq in jobs:
            bar.set_postfix_str(f"{name} {precision}")
            folder = ctx.out / name
            folder.mkdir(exist_ok=True)
            onnx = folder / ("model-qdq.onnx" if qdq else "model.onnx")
            if not onnx.exists():
                pt = ctx.inputs["qat"].path("tensorrt.model") if qdq else ctx.inputs[name].path("model")
                export_tensorrt_onnx(pt, onnx, imgsz, opset, ec.batches, qdq)
            calib = None
            if precision == "int8" and not qdq:
                images = split_images(data, "train")[: ec.calib_images]
                calib = CalibrationFeed(images, imgsz, batch=min(8, len(images)))
            engine = folder / f"{precision}.engine"
            meta = build_engine(
                onnx,
                engine,
                settings_for[precision],
                imgsz,
                data.names,
                calibration=calib,
                timing_cache=timing_cache,
                calib_cache=folder / "calibration.cache" if calib else None,
                log=ui.info,
            )
            outputs[f"{name}.{precision}"] = str(engine.relative_to(ctx.out))
            engines[f"{name}.{precision}"] = {"int8": meta.int8, "build_s": meta.build_s}
            bar.update(1)
    summary = f"{len(outputs)} engines for {gpu['name']} (TensorRT {version}): {', '.join(outputs)}"
    return StageResult(outputs, {"tensorrt": version, "gpu": gpu, "engines": engines}, summary)
