"""The ``teacher`` and ``native`` stages: plain Ultralytics training, with yolopress' settings.

``native`` is the control that every compression stage is judged against: the student trained
on the same data, with the same epochs and hyperparameters, without a teacher.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from yolopress import ui
from yolopress.bench.curves import late_rise, read_curve
from yolopress.config import ConfigError, PipelineConfig, TeacherConfig, TrainConfig
from yolopress.data.check import check_class_names
from yolopress.data.dataset import load_data_yaml
from yolopress.stage import StageContext, StageResult


def resolve_device(device: str) -> str:
    """``auto`` picks the first CUDA GPU when there is one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def check_model_source(model: str, where: str) -> str:
    """A model YAML name Ultralytics ships, or a file, or a demo pretraining recipe (``synthpre:yolo11n``:
    :mod:`yolopress.data.pretrain`) as its checkpoint path; never a name that would trigger a download."""
    from yolopress.data.pretrain import resolve
    from yolopress.stage import cache_root

    model = resolve(model, cache_root(), ui.info)
    if model.endswith(".pt") and not Path(model).is_file():
        raise ConfigError(
            f"{where}: {model!r} is not a file. yolopress never downloads weights: give the path of a .pt you have, "
            f"or a model YAML such as 'yolo11n.yaml' to train from scratch."
        )
    return model


def train_args(tc: TrainConfig, cfg: PipelineConfig, data_yaml: Path, out: Path) -> dict[str, Any]:
    """Ultralytics ``train()`` arguments for one stage; ``tc.args`` may add any other train argument."""
    args = dict(
        data=str(data_yaml),
        epochs=tc.epochs,
        imgsz=cfg.imgsz,
        batch=tc.batch,
        device=resolve_device(cfg.device),
        workers=tc.workers,
        project=str(out.resolve()),  # a relative one would land under Ultralytics' runs/detect/
        name="train",
        exist_ok=True,
        seed=cfg.seed if isinstance(tc, TeacherConfig) else cfg.student_seed,  # one teacher for every student seed
        deterministic=True,
        optimizer=tc.optimizer,
        lr0=tc.lr0,
        warmup_epochs=tc.warmup_epochs,
        patience=tc.patience,
        plots=False,
        verbose=False,
    )
    args.update(tc.args)
    return args


def epoch_progress(yolo, epochs: int, desc: str) -> Any:
    """Attach an epoch progress bar (with ETA and the latest val mAP) to an Ultralytics model."""
    bar = ui.progress(epochs, desc, "epoch")

    def on_fit_epoch_end(trainer) -> None:
        # Ultralytics fires this again after its final validation: follow the epoch, don't count calls
        bar.update(max(0, min(trainer.epoch + 1, epochs) - bar.n))
        m = trainer.metrics or {}
        bar.set_postfix_str(f"val mAP50-95 {m.get('metrics/mAP50-95(B)', 0.0):.3f}")

    yolo.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    return bar


def cpu_threads(requested: int | None = None) -> int:
    """The threads a CPU training uses: ``requested``, else every core this process may run on."""
    if requested:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_cpu_threads(yolo, threads: int) -> dict:
    """Train on ``threads`` CPU threads. Ultralytics sets torch to one thread fewer than the machine's cores
    (for data-loader workers) and then loads CPU batches in the main process anyway, so on a 2-core machine
    it trained on one core. Returns what the training used (``threads``: None on a GPU)."""
    used: dict = {"threads": None}

    def set_threads(trainer) -> None:
        if trainer.device.type == "cpu":
            import torch

            torch.set_num_threads(threads)  # after Ultralytics' select_device, which set its own count
            used["threads"] = threads

    yolo.add_callback("on_pretrain_routine_start", set_threads)
    return used


def step_timer(yolo) -> list[float]:
    """Record the wall time of every training step (forward, loss, backward, optimizer) in milliseconds."""
    times: list[float] = []
    state = {}

    def start(trainer) -> None:
        if trainer.device.type == "cuda":
            import torch

            torch.cuda.synchronize(trainer.device)
        state["t0"] = time.perf_counter()

    def end(trainer) -> None:
        if trainer.device.type == "cuda":
            import torch

            torch.cuda.synchronize(trainer.device)
        times.append((time.perf_counter() - state["t0"]) * 1000)

    yolo.add_callback("on_train_batch_start", start)
    yolo.add_callback("on_train_batch_end", end)
    return times


def train(
    model: str,
    tc: TrainConfig,
    cfg: PipelineConfig,
    data_yaml: Path,
    out: Path,
    desc: str,
    trainer=None,
    on_trainer=None,
    module=None,
    callbacks: dict | None = None,
) -> tuple[Path, dict]:
    """Train with Ultralytics (or ``trainer``, a DetectionTrainer subclass) into ``out/train``.

    ``module`` replaces the model loaded from ``model`` (the trainer must keep it: see
    :mod:`yolopress.compress.finetune`); ``callbacks`` maps Ultralytics events to extra functions. Returns the best
    checkpoint (copied to ``out/model.pt``) and metrics, including the median time of a training
    step after the first epoch's warm-up.
    """
    from yolopress._ultralytics import YOLO

    yolo = YOLO(model)
    if module is not None:  # train this module (e.g. fake-quantized) instead of the checkpoint's own
        yolo.model = module
    for event, fn in (callbacks or {}).items():
        yolo.add_callback(event, fn)
    steps = step_timer(yolo)
    import torch

    threads_before = torch.get_num_threads()
    used = use_cpu_threads(yolo, cpu_threads(tc.threads))
    try:
        with epoch_progress(yolo, tc.epochs, desc):
            yolo.train(trainer=trainer, **train_args(tc, cfg, data_yaml, out))
    finally:
        torch.set_num_threads(threads_before)
    trainer = yolo.trainer
    if on_trainer is not None:
        on_trainer(trainer)
    weights = Path(trainer.save_dir) / "weights"
    best = weights / "best.pt" if (weights / "best.pt").is_file() else weights / "last.pt"
    shutil.copy2(best, out / "model.pt")
    shutil.rmtree(weights)  # model.pt is the best epoch; results.csv and args.yaml stay in train/
    m = trainer.metrics or {}
    rise = late_rise(read_curve(Path(trainer.save_dir) / "results.csv"))
    metrics = {
        "late_rise": rise,  # best val mAP gained over the last 20% of epochs: near 0 once training has flattened
        "val_map50_95": float(m.get("metrics/mAP50-95(B)", 0.0)),
        "val_map50": float(m.get("metrics/mAP50(B)", 0.0)),
        "epochs": int(trainer.epoch + 1),
        "step_time_ms": median(steps[len(steps) // max(tc.epochs, 1) :] or steps),
        "threads": used["threads"],  # CPU training threads (None on a GPU): step times depend on them
    }
    return out / "model.pt", metrics


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def start_label(model: str) -> str:
    """How a stage's log names its starting point: the architecture for a YAML or a pretrained checkpoint
    (``yolo11n``, ``yolo11s-synthpre``); the folder too for a checkpoint with a generic name, since
    ``model.pt`` or ``best.pt`` alone says nothing (``teacher-6609d532570a0c77/model.pt``)."""
    path = Path(model)
    if path.suffix == ".pt" and path.stem in {"model", "best", "last"} and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.stem


def summary(what: str, metrics: dict) -> str:
    return f"{what}: val mAP50-95 {metrics['val_map50_95']:.3f}, mAP50 {metrics['val_map50']:.3f}"


def run_teacher(ctx: StageContext) -> StageResult:
    from yolopress._ultralytics import YOLO

    tc = ctx.cfg.teacher
    data_yaml = ctx.inputs["data"].path("data_yaml")
    if tc.weights is not None:
        yolo = YOLO(str(tc.weights))
        if yolo.task != "detect":
            raise ConfigError(
                f"teacher.weights: {tc.weights} is a {yolo.task!r} model; yolopress distils detection models"
            )
        check_class_names(yolo.names, load_data_yaml(data_yaml).names, tc.weights, data_yaml)
        shutil.copy2(tc.weights, ctx.out / "model.pt")
        return StageResult({"model": "model.pt"}, {"source": str(tc.weights)}, f"given {tc.weights}")
    model = check_model_source(tc.model, "teacher.model")
    _, metrics = train(model, tc, ctx.cfg, data_yaml, ctx.out, f"teacher {start_label(model)}")
    return StageResult(
        {"model": "model.pt"}, metrics, summary(f"trained {start_label(model)} {metrics['epochs']} epochs", metrics)
    )


def run_native(ctx: StageContext) -> StageResult:
    return _train_student(ctx, ctx.cfg.student, "native")


def run_control(ctx: StageContext) -> StageResult:
    """The budget-matched control: ``native``, trained as many epochs as the whole chain trains its student."""
    budget = ctx.cfg.control_budget()
    tc = ctx.cfg.student.model_copy(update={"epochs": sum(budget.values())})
    result = _train_student(ctx, tc, "control")
    result.metrics["budget"] = budget
    return result


def _train_student(ctx: StageContext, tc: TrainConfig, what: str) -> StageResult:
    data_yaml = ctx.inputs["data"].path("data_yaml")
    model = check_model_source(tc.model, "student.model")
    _, metrics = train(model, tc, ctx.cfg, data_yaml, ctx.out, f"{what} {start_label(model)}")
    return StageResult(
        {"model": "model.pt"}, metrics, summary(f"trained {start_label(model)} {metrics['epochs']} epochs", metrics)
    )
