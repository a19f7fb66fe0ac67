"""One fine-tuning path for the stages that train a model they did not build: prune recovery and QAT.

Both start from a finished student (pruned, or fake-quantized), train it with the student's
settings and their own epochs and learning rate, with or without distillation, through
Ultralytics' trainer. Only two things differ from plain training: the trainer must keep the
given model (Ultralytics would rebuild it from its YAML, at full width and without quantizers),
and there is no warm-up (the model is already trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ultralytics.models.yolo.detect import DetectionTrainer

from yolopress import guard, ui
from yolopress.compress.distill import DistillationTrainer, DistillSettings, check_teacher
from yolopress.config import DistillConfig, PipelineConfig
from yolopress.stage import StageContext
from yolopress.train import train


class KeepModel:
    """Trainer mixin: train the loaded model itself, which Ultralytics would rebuild from its YAML."""

    def get_model(self, cfg=None, weights=None, verbose=True):
        from torch import nn

        if isinstance(weights, nn.Module):
            return weights
        return super().get_model(cfg=cfg, weights=weights, verbose=verbose)


class KeptModelTrainer(KeepModel, DetectionTrainer):
    """Detection loss only."""


class KeptModelDistillationTrainer(KeepModel, DistillationTrainer):
    """Detection loss plus distillation from a teacher."""


def trainer_for(teacher: Path | None, cfg: PipelineConfig, pool: Path | None = None):
    """The trainer class that fine-tunes a kept model: with distillation from ``teacher`` (the run's
    ``distill`` loss settings, or their defaults where distillation is off), and on the prepared unlabeled
    ``pool`` too where one is given; or without one."""
    if teacher is None:
        return KeptModelTrainer
    settings = DistillSettings.from_config(teacher, cfg.distill or DistillConfig(), pool, cfg.student.batch)
    return KeptModelDistillationTrainer.configured(settings)


def fine_tune(
    src: Path,
    cfg: PipelineConfig,
    data_yaml: Path,
    out: Path,
    *,
    epochs: int,
    lr0: float,
    teacher: Path | None,
    desc: str,
    module=None,
    callbacks: dict | None = None,
    pool: Path | None = None,
) -> dict:
    """Fine-tune the checkpoint ``src`` (or ``module``, a changed copy of it) into ``out/model.pt``.

    The student's settings with ``epochs``, ``lr0`` and no warm-up; distillation from ``teacher``
    when one is given (on the prepared unlabeled ``pool``'s images too, where one is given).
    ``callbacks`` maps Ultralytics events to extra functions. Returns the training metrics (val mAP,
    epochs, step time).
    """
    tc = cfg.student.model_copy(update={"epochs": epochs, "lr0": lr0, "warmup_epochs": 0.0})
    trainer, box = trainer_for(teacher, cfg, pool), {}
    metrics = train(
        str(src),
        tc,
        cfg,
        data_yaml,
        out,
        desc,
        trainer=trainer,
        module=module,
        callbacks=callbacks,
        on_trainer=lambda t: box.setdefault("trainer", t),
    )[1]
    if pool is not None:  # what the trainer drew from, not what was asked for
        metrics["unlabeled_images"] = len(box["trainer"].pool_loader.dataset)
    return metrics


@dataclass(frozen=True)
class Start:
    """Where a fine-tuning stage starts: the last student (its stage name and checkpoint), the dataset,
    and the teacher it distils from (None: no distillation)."""

    source: str
    model: Path
    data_yaml: Path
    teacher: Path | None


def starting_point(ctx: StageContext, choice: str, own_name: str, verify_teacher: bool = True) -> Start:
    """The last FP32 student of the run and the teacher ``choice`` names: ``own_name`` (the student itself),
    ``teacher`` (the run's teacher) or ``none``. With ``verify_teacher``, a teacher that is not a detection
    model of the dataset's classes is refused before any training starts."""
    source = guard.student(ctx.inputs, ctx.cfg)
    if source == "native" and "distill" in ctx.inputs:
        ui.info(f"⚠ {guard.verdict(ctx.inputs, True).words()}")
    model = ctx.inputs[source].path("model")
    data_yaml = ctx.inputs["data"].path("data_yaml")
    teacher = {own_name: model, "teacher": ctx.inputs["teacher"].path("model") if "teacher" in ctx.inputs else None}
    found = teacher.get(choice)
    if found is not None and verify_teacher:
        check_teacher(found, data_yaml)
    return Start(source, model, data_yaml, found)
