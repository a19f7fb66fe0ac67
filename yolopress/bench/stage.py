"""The ``bench`` stage: accuracy on the held-out split and latency of every artifact, same runners as deployment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yolopress import ui
from yolopress.bench.accuracy import evaluate
from yolopress.bench.device import fingerprint
from yolopress.bench.latency import LatencySettings, e2e_latency, model_latency
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.io import write_json
from yolopress.runtime import load_runner
from yolopress.runtime.base import UnsupportedBatch
from yolopress.stage import MODEL_STAGES, StageContext, StageResult, latest_student

# runtime -> (export output suffix or None for the checkpoint itself, format name)
_FORMATS = {"torch": (None, "pytorch"), "onnxruntime": ("onnx", "onnx"), "openvino": ("openvino", "openvino")}
_E2E_IMAGES = 16  # decoded test images cycled through for end-to-end timing


def artifacts(ctx: StageContext) -> list[dict]:
    """Every (model, runtime) pair that this run produced and the config asks to measure."""
    found = []
    exports = ctx.inputs.get("export")
    for model in MODEL_STAGES:
        if model not in ctx.inputs:
            continue
        for runtime in (r for r in ctx.cfg.bench.runtimes if r in _FORMATS):  # engines come from `engine` below
            suffix, fmt = _FORMATS[runtime]
            if suffix is None:
                path = ctx.inputs[model].path("model")
            elif exports is not None and f"{model}.{suffix}" in exports.outputs:
                path = exports.path(f"{model}.{suffix}")
            else:
                continue
            found.append(
                {"model": model, "runtime": runtime, "format": fmt, "precision": "fp32", "path": path, "pt": model}
            )
    qat = ctx.inputs.get("qat")
    if qat is not None:
        # INT8: the TensorRT-bound Q/DQ ONNX runs in ONNX Runtime here (its accuracy; TensorRT builds the engine
        # on the device), the OpenVINO IR in OpenVINO; sizes and FLOPs are those of the FP32 model quantized
        for target, runtime, fmt in (("tensorrt", "onnxruntime", "onnx-qdq"), ("openvino", "openvino", "openvino")):
            if target in qat.outputs and runtime in ctx.cfg.bench.runtimes:
                path = qat.path(target)
                found.append(
                    {
                        "model": "qat",
                        "runtime": runtime,
                        "format": fmt,
                        "precision": "int8",
                        "path": path,
                        "pt": qat.metrics["source"],
                        **({"options": {"int8_float": ctx.cfg.bench.openvino_int8_float}} if fmt == "openvino" else {}),
                    }
                )
    engines = ctx.inputs.get("engine")
    if engines is not None and "tensorrt" in ctx.cfg.bench.runtimes:
        for key in engines.outputs:  # "<model>.<precision>", e.g. "qat.int8", "prune.fp16"
            model, precision = key.rsplit(".", 1)
            found.append(
                {
                    "model": model,
                    "runtime": "tensorrt",
                    "format": "engine",
                    "precision": precision,
                    "path": engines.path(key),
                    "pt": qat.metrics["source"] if model == "qat" else model,
                    "options": {"cuda_graph": ctx.cfg.engine.cuda_graph},
                }
            )
    return found


def deployment_models(ctx: StageContext) -> set[str]:
    """The models timed in full (deployment sizes, throughput, end-to-end): the config's, or the speed reference
    and what the chain deploys."""
    if ctx.cfg.bench.deployment_models is not None:
        return set(ctx.cfg.bench.deployment_models)
    qat = ctx.inputs.get("qat")
    if qat is not None:
        return {"native", qat.metrics["source"], "qat"}
    return {"native", latest_student(ctx.inputs, required=False)} - {None}


def model_info(pt: Path, imgsz: int) -> dict:
    """Parameters and GFLOPs of a checkpoint at the run's input size."""
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    from yolopress._ultralytics import YOLO

    model = YOLO(str(pt)).model
    return {"params": int(get_num_params(model)), "gflops": round(float(get_flops(model, imgsz)), 3)}


def file_size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.suffix in (".xml", ".bin")]
    return round(sum(p.stat().st_size for p in files) / 2**20, 3)


def _throughput(art: dict, imgsz: int, batches: list[int], settings: LatencySettings, threads, batch1: dict) -> dict:
    """Images per second (model-only) at each batch size the artifact can run; batch 1 is already measured."""
    short = LatencySettings(settings.warmup, max(5, settings.min_iters // 5), 200, settings.min_time_s / 2, 1e9, 0)
    out = {1: batch1["fps"]} if 1 in batches else {}
    for b in (b for b in batches if b != 1):
        try:
            runner = load_runner(art["path"], art["runtime"], imgsz, batch=b, threads=threads, **art.get("options", {}))
        except UnsupportedBatch as e:
            ui.info(f"no batch-{b} throughput for {art['model']}/{art['runtime']}: {e}")
            continue
        with runner:
            x = np.random.default_rng(0).random((b, 3, imgsz, imgsz), dtype=np.float32)
            out[b] = model_latency(runner, x, short)["fps"]
    return out


def _deployment_speed(art: dict, sizes: list[int], batches: list[int], settings: LatencySettings, threads) -> dict:
    """Latency (batch 1) and throughput of an artifact at each deployment size other than the training size.

    PyTorch is the reference runtime, not a deployment one, and an engine is built for one input size:
    both are timed at the training size only.
    """
    if art["runtime"] in ("torch", "tensorrt"):
        return {}
    out = {}
    for size in sizes:
        x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        try:
            with load_runner(
                art["path"], art["runtime"], size, batch=1, threads=threads, **art.get("options", {})
            ) as runner:
                lat = model_latency(runner, x, settings)
        except UnsupportedBatch as e:
            ui.info(f"no {size} px timing for {art['model']}/{art['runtime']}: {e}")
            continue
        out[str(size)] = {"latency": lat, "throughput": _throughput(art, size, batches, settings, threads, lat)}
        ui.info(f"{'':>8} {'':<11} at {size} px: p50 {lat['p50_ms']:.2f} ms")
    return out


def _row(ctx: StageContext, art: dict, acc: dict, lat: dict, e2e: dict | None, tput: dict, info: dict, runner) -> dict:
    return {
        **{k: art[k] for k in ("model", "runtime", "format", "precision")},
        # what the float operations ran in, where the runtime resolves it (OpenVINO: f32, or bf16 for an INT8 IR)
        "float_precision": getattr(runner, "float_precision", None),
        "path": str(Path(art["path"]).relative_to(ctx.run_dir)),
        **info,
        "size_mb": file_size_mb(Path(art["path"])),
        "accuracy": acc,
        "latency": {**lat, "threads": runner.threads, "kind": "model-only"},
        "e2e_latency": e2e,
        "throughput": tput,
    }


def run(ctx: StageContext) -> StageResult:
    cfg, imgsz = ctx.cfg.bench, ctx.cfg.imgsz
    settings = LatencySettings(
        cfg.warmup, cfg.min_iters, max(cfg.min_iters, 1000), cfg.min_time_s, cfg.cv_limit, cfg.repeats
    )
    data = load_data_yaml(ctx.inputs["data"].path("data_yaml"))
    images = split_images(data, cfg.split)
    e2e_images = [cv2.imread(str(p)) for p in images[:_E2E_IMAGES]]
    arts = artifacts(ctx)
    deployed = deployment_models(ctx)
    infos = {m: model_info(ctx.inputs[m].path("model"), imgsz) for m in {a["pt"] for a in arts}}
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    rows = []
    with ctx.progress(len(arts), "bench", "artifact") as bar:
        for art in arts:
            bar.set_postfix_str(f"{art['model']}/{art['runtime']}")
            # What a user deploys gets throughput, end-to-end latency and the deployment sizes; the rest (PyTorch,
            # the reference runtime; the teacher and the controls, there to compare accuracy with) only accuracy
            # and batch-1 latency: those timings were a third of the bench stage's minutes on 2 cores
            full = art["model"] in deployed and art["runtime"] != "torch"
            runner = load_runner(
                art["path"], art["runtime"], imgsz, batch=1, threads=cfg.threads, **art.get("options", {})
            )
            with runner:
                acc = evaluate(runner, data, cfg.split, cfg.conf, cfg.iou, cfg.max_det)
                lat = model_latency(runner, x, settings)
                e2e = e2e_latency(runner, e2e_images, settings) if cfg.e2e and full else None
            tput = _throughput(art, imgsz, cfg.batches if full else [1], settings, cfg.threads, lat)
            noisy = " (noisy)" if lat["noisy"] else ""
            ui.info(
                f"{art['model']:>8}/{art['runtime']:<11} mAP50-95 {acc['map50_95']:.3f}  "
                f"p50 {lat['p50_ms']:.2f} ms{noisy}  cv {lat['cv']:.2f}"
            )
            row = _row(ctx, art, acc, lat, e2e, tput, infos[art["pt"]], runner)
            sizes = cfg.sizes(imgsz)[1:] if full else []
            row["sizes"] = _deployment_speed(art, sizes, cfg.batches, settings, cfg.threads)
            rows.append(row)
            bar.update(1)
    result = {"split": cfg.split, "imgsz": imgsz, "sizes": cfg.sizes(imgsz), "device": fingerprint(), "results": rows}
    write_json(ctx.out / "results.json", result)
    best = max(rows, key=lambda r: r["accuracy"]["map50_95"]) if rows else None
    summary = f"{len(rows)} artifacts on {result['device']['cpu']}"
    if best:
        summary += f"; best mAP50-95 {best['accuracy']['map50_95']:.3f} ({best['model']}/{best['runtime']})"
    return StageResult({"results": "results.json"}, {"artifacts": len(rows)}, summary)
