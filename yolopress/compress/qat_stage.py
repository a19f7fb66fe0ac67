"""The ``qat`` stage: the last student in INT8, calibrated, fine-tuned with fake quantization, exported.

For each deployment target (``qat.targets``) the FP32 student (pruned, else distilled, else
native) has its BatchNorm folded and fake quantizers inserted (:mod:`yolopress.compress.qat`),
calibrated on letterboxed training images, then fine-tuned for ``qat.epochs`` through
Ultralytics' trainer with the detection loss plus distillation from the FP32 student (or the
teacher). With ``epochs: 0`` it is post-training quantization. The targets differ only in how
much of the INT8 grid the weights use (``WEIGHT_RANGE``; for OpenVINO it follows the CPU, see
``qat.openvino_grid``), so each gets its own model:

- ``tensorrt``: ``tensorrt/model.onnx``, Q/DQ for TensorRT's explicit quantization, checked
  against its rules; the engine is built on the device (docs/quantization.md).
- ``openvino``: ``openvino/``, an INT8 IR for CPUs, exported without the CSP blocks' splits
  (:func:`yolopress.compress.csp.split_for_int8`: the same function, faster in OpenVINO's CPU plugin).

Each target's ``model.pt`` is an Ultralytics checkpoint of the fake-quantized model (``YOLO()``
loads it with its quantizers). The stage also records how closely the exported INT8 artifact
follows the fake-quantized PyTorch model on validation images.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from yolopress import ui
from yolopress.compress.finetune import fine_tune, starting_point
from yolopress.compress.qat import QuantNoise, prepare, quantized_layers, quiet_modelopt, weight_range
from yolopress.compress.ranges import share_input_ranges
from yolopress.config import ConfigError, ExportConfig, PipelineConfig
from yolopress.data import pool as unlabeled_pool
from yolopress.data.batches import letterboxed_batches
from yolopress.stage import StageContext, StageResult

AGREEMENT_IMAGES = 16  # validation images on which the INT8 artifact is compared with the fake-quantized model


def images(
    data_yaml: Path, imgsz: int, n: int, batch: int, split: str = "train", folder: Path | None = None
) -> list[torch.Tensor]:
    """``n`` letterboxed images of ``split`` (or of ``folder``) as float batches in [0, 1]."""
    found = letterboxed_batches(data_yaml, imgsz, batch, math.ceil(n / batch), split, folder)
    if not found:
        raise ConfigError(f"no {split} images in {folder or data_yaml}: INT8 calibration needs some")
    return list((torch.cat([b["img"] for b in found])[:n].float() / 255).split(batch))


def quantized_model(
    src: Path,
    calibration: list[torch.Tensor],
    quantize_dfl: bool,
    target: str,
    grid: str = "half",
    shared_ranges: bool = False,
):
    """An Ultralytics ``YOLO`` holding the FP32 checkpoint ``src`` with BatchNorm folded and quantizers calibrated,
    and the quantizer groups that were given one range (``shared_ranges``: :mod:`yolopress.compress.ranges`)."""
    from yolopress._ultralytics import YOLO

    yolo = YOLO(str(src))
    yolo.model = prepare(yolo.model, calibration, quantize_dfl, weight_range(target, grid))
    groups = share_input_ranges(yolo.model, calibration[0][:1]) if shared_ranges else []
    return yolo, groups


def _noise_callbacks(qc, epochs: int) -> tuple[dict, dict]:
    """Ultralytics callbacks that apply quantization noise to the training model, and what they record."""
    state: dict = {}

    def start(trainer) -> None:
        total = epochs * len(trainer.train_loader)
        state["noise"] = QuantNoise(trainer.model, total, qc.noise_start, qc.noise_ramp, seed=trainer.args.seed)

    def step(trainer) -> None:
        state["noise"].step()

    def end(trainer) -> None:
        noise = state["noise"]
        noise.finish()
        state["record"] = {
            "layers": len(noise.layers),
            "steps": noise.step_i,
            "first_share": round(noise.shares[0], 4) if noise.shares else None,
            "mean_share": round(float(np.mean(noise.shares)), 4) if noise.shares else None,
        }

    return {"on_train_start": start, "on_train_batch_start": step, "on_train_end": end}, state


def _fine_tune(yolo, src: Path, cfg: PipelineConfig, data_yaml: Path, out: Path, teacher: Path | None) -> dict:
    """Fine-tune the fake-quantized model in ``yolo`` into ``out/model.pt``; return its metrics."""
    qc = cfg.qat
    callbacks, noise = _noise_callbacks(qc, qc.epochs) if qc.noise else ({}, {})
    desc = f"qat {out.name}" + (" + noise" if qc.noise else "")
    metrics = fine_tune(
        src,
        cfg,
        data_yaml,
        out,
        epochs=qc.epochs,
        lr0=qc.lr0,
        teacher=teacher,
        desc=desc,
        module=yolo.model,
        callbacks=callbacks,
    )
    if qc.noise:
        metrics["noise"] = noise.get("record")
    return metrics


def agreement(pt: Path, artifact: Path, runtime: str, imgsz: int, batches: list[torch.Tensor], **options) -> dict:
    """How far the INT8 artifact's outputs are from the fake-quantized PyTorch model's, on the same images.

    Boxes in input pixels, scores as probabilities: the largest and the 99th-percentile difference. ``options``
    go to the runner (e.g. ``int8_float="auto"`` for OpenVINO).
    """
    from yolopress._ultralytics import YOLO
    from yolopress.runtime import load_runner

    model = YOLO(str(pt)).model.float().eval()
    ref, got = [], []
    with load_runner(artifact, runtime, imgsz, batch=1, **options) as runner, torch.no_grad():
        for x in torch.cat(batches).split(1):
            ref.append(model(x)[0].numpy())
            got.append(runner.infer(x.numpy()))
    ref, got = np.concatenate(ref), np.concatenate(got)
    box, score = np.abs(got[:, :4] - ref[:, :4]), np.abs(got[:, 4:] - ref[:, 4:])
    return {
        "runtime": runtime,
        "images": len(ref),
        "box_px_max": round(float(box.max()), 4),
        "box_px_p99": round(float(np.percentile(box, 99)), 4),
        "score_max": round(float(score.max()), 5),
        "score_p99": round(float(np.percentile(score, 99)), 5),
    }


def quantize_target(
    target: str, src: Path, cfg: PipelineConfig, data_yaml: Path, out: Path, teacher: Path | None, calib: list
) -> dict:
    """Calibrate, fine-tune and export one target into ``out/<target>``; return its record."""
    from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx

    qc, imgsz = cfg.qat, cfg.imgsz
    tdir = out / target
    tdir.mkdir(parents=True, exist_ok=True)
    grid = qc.openvino_weight_grid()
    # one range per tensor lets the OpenVINO export quantize each tensor once (yolopress.compress.ranges); TensorRT
    # fuses its own graph, and there it is untested
    cpu = target == "openvino"
    shared = cpu and qc.shared_ranges
    yolo, groups = quantized_model(src, calib, qc.quantize_dfl, target, grid, shared_ranges=shared)
    record: dict = {
        "weight_range": weight_range(target, grid),
        "quantized_layers": len(quantized_layers(yolo.model)),
        "shared_ranges": len(groups) if shared else None,
    }
    if qc.epochs:
        record.update(_fine_tune(yolo, src, cfg, data_yaml, tdir, teacher))
    else:
        yolo.save(str(tdir / "model.pt"))  # Ultralytics stores the quantizers beside the module
    pt = tdir / "model.pt"
    export_dir = tdir / "export"
    # OpenVINO's CPU plugin runs a CSP block faster without its split (yolopress.compress.csp), the head with its
    # DFL channel-local (yolopress.export.head), and each tensor quantized once where it is made
    # (yolopress.export.qdq_hoist); TensorRT fuses its own graph, and there all three are untested
    fast = cpu and (cfg.export or ExportConfig()).fast_dfl
    onnx_path, exported = export_qdq_onnx(pt, export_dir, imgsz, cfg.opset, split_csp=cpu, fast_dfl=fast, hoist_qdq=cpu)
    record.update(exported)
    if target == "tensorrt":
        artifact, runtime = tdir / "model.onnx", "onnxruntime"
        shutil.move(onnx_path, artifact)
    else:
        artifact, runtime = export_openvino_int8(onnx_path, tdir / "model_int8_openvino"), "openvino"
    shutil.rmtree(export_dir)
    val = images(data_yaml, imgsz, AGREEMENT_IMAGES, 8, split="val")
    record["agreement"] = agreement(pt, artifact, runtime, imgsz, val)
    record["artifact"] = str(artifact.relative_to(out))
    return record


def run_stage(ctx: StageContext) -> StageResult:
    """The ``qat`` stage: INT8 artifacts of the last student, one per target."""
    qc, imgsz = ctx.cfg.qat, ctx.cfg.imgsz
    start = starting_point(ctx, qc.teacher, "fp32", verify_teacher=qc.epochs > 0)
    source, src, data_yaml, teacher = start.source, start.model, start.data_yaml, start.teacher
    if qc.calib == "unlabeled":  # ranges set on images from where the model will run
        with tempfile.TemporaryDirectory(dir=ctx.out) as work:
            pool = unlabeled_pool.prepare(ctx.cfg, Path(work) / "pool", ctx.progress, data_yaml)
            calib = images(data_yaml, imgsz, qc.calib_images, ctx.cfg.student.batch, folder=pool)
    else:
        calib = images(data_yaml, imgsz, qc.calib_images, ctx.cfg.student.batch)
    n_calib = sum(len(b) for b in calib)
    ui.info(f"qat: {source} student, {n_calib} calibration images ({qc.calib}), targets {qc.targets}")
    targets, outputs = {}, {}
    for target in qc.targets:
        with quiet_modelopt():
            targets[target] = quantize_target(target, src, ctx.cfg, data_yaml, ctx.out, teacher, calib)
        outputs[target] = targets[target]["artifact"]
        outputs[f"{target}.model"] = f"{target}/model.pt"
    mode = f"QAT {qc.epochs} epochs" if qc.epochs else "PTQ (calibration only)"
    parts = []
    for target, rec in targets.items():
        val = f", val mAP50-95 {rec['val_map50_95']:.3f}" if "val_map50_95" in rec else ""
        parts.append(f"{target} ({rec['qdq_pairs']} Q/DQ, {rec['weight_range']}-grid weights{val})")
    metrics = {"source": source, "teacher": qc.teacher if qc.epochs else None, "mode": mode, "targets": targets}
    metrics["calibration"] = {"images": n_calib, "from": qc.calib}
    return StageResult(outputs, metrics, f"INT8 {source}, {mode}: " + ", ".join(parts))
