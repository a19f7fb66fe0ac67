"""The ``prune`` stage: prune the student in steps, fine-tune between them, then recover with distillation.

The student (the distilled one, or the native one when distillation is off) loses a share of its
MACs in ``steps`` equal steps; after each step but the last it is fine-tuned for ``step_epochs``,
after the last for ``epochs`` (recovery). Fine-tuning runs Ultralytics' trainer (the distillation
trainer when ``prune.teacher`` is ``teacher`` or ``student``, the unpruned model), with one
change: the trainer keeps the pruned architecture instead of rebuilding the model from its YAML.
Where distillation has an unlabeled pool (``distill.unlabeled``), the recovery distils on it too
(``prune.pool``, on by default).

A latency target (``latency_ms``, or ``speedup`` over the unpruned student) is turned into a MACs
target first: the student is pruned (without training) to a bisected share of MACs, exported for
the named runtime and timed at the deployment size, until the smallest share that meets the
target is found. Channel counts depend only on that share, so the fine-tuned model has exactly
the architecture that was timed. Timing happens at the size users deploy at (640 by default), not
the training size: at 128 px fixed per-call costs hide what thinner layers buy.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from yolopress import ui
from yolopress.compress.finetune import fine_tune, starting_point
from yolopress.compress.importance import NEEDS_GRADIENTS
from yolopress.compress.prune import (
    PruneError,
    check_consistent,
    check_reachable,
    count_macs,
    prune,
    save_checkpoint,
    smallest_meeting,
)
from yolopress.config import PipelineConfig, PruneConfig
from yolopress.data.batches import letterboxed_batches
from yolopress.data.pool import prepare as prepare_pool
from yolopress.stage import StageContext, StageResult

MAX_MACS_RATIO = 0.9  # the most a latency search will try to remove
LATENCY_PROBES = 6  # bisection steps of a latency target: the MACs share is found to within 1/64 of its range


def load_model(path: Path) -> nn.Module:
    from yolopress.checkpoints import load_model as load

    return load(path).float()


def taylor_gradients(data_yaml: Path, imgsz: int, batches: int, batch_size: int):
    """A function that fills ``.grad`` of a model with the detection loss on the first training batches.

    Images are letterboxed without augmentation; BatchNorm layers run in eval mode so their
    running statistics are not changed by the scoring passes.
    """
    from ultralytics.cfg import get_cfg

    args = get_cfg(overrides={"imgsz": imgsz, "data": str(data_yaml), "task": "detect"})
    cached = letterboxed_batches(data_yaml, imgsz, batch_size, batches)

    def gradients(model: nn.Module) -> None:
        was_training = model.training
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        saved_args, model.args = getattr(model, "args", None), args  # the loss reads its gains from model.args
        try:
            criterion = model.init_criterion()
            device = next(model.parameters()).device
            for b in cached:
                b = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()}
                b["img"] = b["img"].float() / 255
                loss, _ = criterion(model(b["img"]), b)
                loss.sum().backward()
        finally:
            if saved_args is None:  # the checkpoint keeps its own training arguments
                del model.args
            else:
                model.args = saved_args
            model.train(was_training)

    return gradients


def prune_checkpoint(
    src: Path,
    dest: Path,
    macs_target: int,
    imgsz: int,
    importance: str = "magnitude",
    gradients=None,
    round_to: int | None = None,
    cost_power: float = 0.0,
) -> dict:
    """Prune the checkpoint ``src`` to at most ``macs_target`` MACs; write an Ultralytics checkpoint ``dest``."""
    model = load_model(src).eval()
    with torch.no_grad():
        expected = tuple(model(torch.zeros(1, 3, imgsz, imgsz))[0].shape)
    report = prune(model, macs_target, imgsz, importance, gradients, round_to, cost_power)
    check_consistent(model, imgsz, expected)
    meta = {**report.as_dict(), "importance": importance, "round_to": round_to}
    if cost_power:
        meta["cost_power"] = cost_power
    save_checkpoint(model, src, dest, meta)
    return meta


def measure_latency(pt: Path, runtime: str, imgsz: int, threads: int | None, work: Path) -> float:
    """Model-only p50 latency (ms, batch 1) of a checkpoint exported for ``runtime``."""
    from yolopress.bench.latency import LatencySettings, model_latency
    from yolopress.export.onnx import export_onnx
    from yolopress.export.openvino import export_openvino
    from yolopress.runtime import load_runner

    path = export_onnx(pt, work, imgsz) if runtime == "onnxruntime" else export_openvino(pt, work, imgsz)
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    with load_runner(path, runtime, imgsz, batch=1, threads=threads) as runner:
        return float(model_latency(runner, x, LatencySettings(min_iters=100, min_time_s=1.5))["p50_ms"])


def ratio_for_latency(
    src: Path, pc: PruneConfig, imgsz: int, threads: int | None, work: Path, timed_imgsz: int | None = None
) -> tuple[float, dict]:
    """The smallest share of MACs whose pruned model meets ``pc.latency_ms`` (or ``pc.speedup`` over the unpruned
    model) on ``pc.runtime`` at ``timed_imgsz`` (default ``imgsz``), by bisection. MACs are counted at ``imgsz``.
    """
    timed_imgsz = timed_imgsz or imgsz
    base = count_macs(load_model(src), imgsz)[0]
    probes: dict[str, float] = {}

    def latency(ratio: float) -> float:
        d = work / f"probe-{ratio:.3f}"
        d.mkdir(parents=True, exist_ok=True)
        pt = src
        if ratio > 0:
            prune_checkpoint(
                src, d / "model.pt", int(base * (1 - ratio)), imgsz, round_to=pc.round_to, cost_power=pc.cost_power
            )
            pt = d / "model.pt"
        ms = measure_latency(pt, pc.runtime, timed_imgsz, threads, d)
        probes[f"{ratio:.3f}"] = round(ms, 3)
        ui.info(f"latency probe: {ratio:.0%} fewer MACs → p50 {ms:.2f} ms on {pc.runtime} at {timed_imgsz} px")
        shutil.rmtree(d, ignore_errors=True)
        return ms

    unpruned = latency(0.0)
    target = pc.latency_ms if pc.latency_ms is not None else unpruned / pc.speedup
    asked = f"prune.latency_ms={pc.latency_ms}" if pc.latency_ms is not None else f"prune.speedup={pc.speedup}"
    if unpruned <= target:
        return 0.0, probes
    hi = MAX_MACS_RATIO
    try:
        at_hi = latency(hi)
    except PruneError as e:  # this model cannot lose that much: probe the most it can
        if e.reachable is None:
            raise
        hi = e.reachable
        at_hi = latency(hi)
    if at_hi > target:
        raise PruneError(
            f"{asked}: even with {hi:.0%} fewer MACs the student takes {at_hi:.2f} ms on {pc.runtime} at "
            f"{timed_imgsz} px here (unpruned {unpruned:.2f} ms, so at most {unpruned / at_hi:.2f}x); ask for less, "
            "or start from a smaller student model"
        )
    return smallest_meeting(lambda r: latency(r) <= target, hi, LATENCY_PROBES), probes


def step_targets(base_macs: int, macs_ratio: float, steps: int) -> list[int]:
    """The MACs after each of ``steps`` pruning steps: equal shares of ``macs_ratio`` of the unpruned ``base_macs``."""
    return [int(base_macs * (1 - macs_ratio * step / steps)) for step in range(1, steps + 1)]


def prune_and_recover(
    src: Path,
    cfg: PipelineConfig,
    data_yaml: Path,
    out: Path,
    teacher: Path | None,
    macs_ratio: float,
    pool: Path | None = None,
) -> list[dict]:
    """Prune ``src`` by ``macs_ratio`` of its MACs in ``prune.steps`` steps with fine-tuning (distilling on the
    unlabeled ``pool`` too, where one is given); writes ``out/model.pt``.

    Returns one record per step: MACs and parameters after it, and the val mAP after its fine-tuning.
    """
    pc, imgsz = cfg.prune, cfg.imgsz
    base = count_macs(load_model(src), imgsz)[0]
    # Fail before any training if the total cannot be reached (PruneError names the reachable share)
    check_reachable(load_model(src).eval(), int(base * (1 - macs_ratio)), imgsz, pc.round_to)
    gradients = (
        taylor_gradients(data_yaml, imgsz, pc.taylor_batches, cfg.student.batch)
        if pc.importance in NEEDS_GRADIENTS
        else None
    )
    current, history = src, []
    for step, target in enumerate(step_targets(base, macs_ratio, pc.steps), 1):
        step_dir = out / f"step{step}"
        step_dir.mkdir(parents=True, exist_ok=True)
        meta = prune_checkpoint(
            current, step_dir / "pruned.pt", target, imgsz, pc.importance, gradients, pc.round_to, pc.cost_power
        )
        epochs = pc.step_epochs if step < pc.steps else pc.epochs
        record = {
            "step": step,
            "macs": meta["macs_after"],
            "macs_removed": round(1 - meta["macs_after"] / base, 4),
            "params": meta["params_after"],
            "epochs": epochs,
        }
        current = step_dir / "pruned.pt"
        if epochs:
            desc = f"prune {step}/{pc.steps}"
            metrics = fine_tune(
                current, cfg, data_yaml, step_dir, epochs=epochs, lr0=pc.lr0, teacher=teacher, desc=desc, pool=pool
            )
            current = step_dir / "model.pt"
            record.update(
                val_map50_95=metrics["val_map50_95"], val_map50=metrics["val_map50"], threads=metrics["threads"]
            )
            if pool is not None:
                record["unlabeled_images"] = metrics["unlabeled_images"]
        history.append(record)
    shutil.copy2(current, out / "model.pt")
    for step in range(1, pc.steps + 1):  # the step checkpoints were only the next step's input
        for name in ("pruned.pt", "model.pt"):
            (out / f"step{step}" / name).unlink(missing_ok=True)
    return history


def run_stage(ctx: StageContext) -> StageResult:
    """The ``prune`` stage: the distilled student (or the native one) pruned, fine-tuned and recovered."""
    pc, imgsz = ctx.cfg.prune, ctx.cfg.imgsz
    start = starting_point(ctx, pc.teacher, "student")
    source, src, data_yaml, teacher = start.source, start.model, start.data_yaml, start.teacher
    threads = ctx.cfg.bench.threads if ctx.cfg.bench is not None else None
    metrics: dict = {"source": source, "teacher": pc.teacher}
    if pc.timed:
        timed_imgsz = metrics["latency_imgsz"] = ctx.cfg.prune_latency_imgsz()
        with tempfile.TemporaryDirectory(dir=ctx.out) as work:
            ratio, metrics["latency_probes"] = ratio_for_latency(src, pc, imgsz, threads, Path(work), timed_imgsz)
        if ratio == 0:
            shutil.copy2(src, ctx.out / "model.pt")
            return StageResult(
                {"model": "model.pt"},
                {**metrics, "macs_removed": 0.0},
                f"{source} already meets {_target_words(pc)} on {pc.runtime} at {timed_imgsz} px: not pruned",
            )
    else:
        ratio = pc.macs
    # the recovery learns from the teacher on the deployment-domain pool too, as distillation did
    dc = ctx.cfg.distill
    pool = None
    if pc.pool and teacher is not None and dc is not None and dc.unlabeled:
        pool = prepare_pool(ctx.cfg, ctx.out / "pool", ctx.progress, data_yaml)
    try:
        history = prune_and_recover(src, ctx.cfg, data_yaml, ctx.out, teacher, ratio, pool)
    finally:
        if pool is not None:  # links to the user's images, or generated ones: made again from the config
            shutil.rmtree(pool.parent, ignore_errors=True)
    metrics["unlabeled"] = dc.unlabeled if pool is not None else None
    final = history[-1]
    metrics.update(
        steps=history,
        macs_removed=final["macs_removed"],
        params=final["params"],
        val_map50_95=final.get("val_map50_95"),
        val_map50=final.get("val_map50"),
    )
    summary = f"{source} with {final['macs_removed']:.0%} fewer MACs ({final['params'] / 1e6:.2f}M params)"
    if pc.timed:
        with tempfile.TemporaryDirectory(dir=ctx.out) as work:
            ms = measure_latency(ctx.out / "model.pt", pc.runtime, timed_imgsz, threads, Path(work))
        metrics["latency_ms"] = ms
        # the unpruned model timed again beside the result: one probe from minutes ago is no fair ratio on a busy CPU
        with tempfile.TemporaryDirectory(dir=ctx.out) as work:
            metrics["unpruned_latency_ms"] = measure_latency(src, pc.runtime, timed_imgsz, threads, Path(work))
        metrics["speedup"] = round(metrics["unpruned_latency_ms"] / ms, 3)
        summary += (
            f", p50 {ms:.2f} ms on {pc.runtime} at {timed_imgsz} px, {metrics['speedup']:.2f}x the unpruned "
            f"(target {_target_words(pc)})"
        )
    if final.get("val_map50_95") is not None:
        summary += f", recovered to val mAP50-95 {final['val_map50_95']:.3f}"
        if pool is not None:
            summary += " (with the unlabeled pool)"
    return StageResult({"model": "model.pt"}, metrics, summary)


def _target_words(pc: PruneConfig) -> str:
    return f"{pc.latency_ms} ms" if pc.latency_ms is not None else f"{pc.speedup}x the unpruned speed"
