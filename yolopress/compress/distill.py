"""The ``distill`` stage: the student trained with Ultralytics' own trainer plus a teacher.

``DistillationTrainer`` subclasses Ultralytics' ``DetectionTrainer``, so AMP, EMA, warm-up,
resume, per-epoch validation, results.csv, plots and TensorBoard keep working; it only swaps the
student's loss for :class:`DistillCriterion` (detection loss + distillation terms, each logged
as its own ``kd_*`` column) and adds the CWD adapters to the optimizer.

Ultralytics builds the trainer itself from a class and its own arguments, so the distillation
settings travel on the class: ``DistillationTrainer.configured(settings)`` is a subclass that
carries them. (In multi-GPU training Ultralytics pickles that class, settings included, for
each DDP worker.)

The loss is chosen by name from ``KD_LOSSES``: ``yolo`` (the terms in ``KD_TERMS``, each with
its weight) or ``naive`` (the logit-KD control).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG
from ultralytics.utils.torch_utils import unwrap_model

from yolopress.compress.kd_weights import anchor_weights, kd_scale
from yolopress.compress.losses import ChannelWiseKD, ClassificationKD, LocalizationKD, NaiveLogitKD
from yolopress.data.check import check_class_names
from yolopress.data.dataset import load_data_yaml
from yolopress.stage import StageContext, StageResult
from yolopress.train import check_model_source, median, summary, train


@dataclass
class DistillSettings:
    teacher: str  # path of the teacher checkpoint
    loss: str = "yolo"  # "yolo": cls + LD + CWD below; "naive": the softmax logit KD control
    cls: float = 1.0
    ld: float = 1.0
    cwd: float = 1.0
    cls_temperature: float = 1.0
    ld_temperature: float = 2.0
    cwd_tau: float = 1.0
    weighting: str = "both"  # anchors distilled: teacher confidence, assigner foreground, or both
    schedule: str = "constant"  # KD weight over training: constant, linear_decay, cosine_decay
    naive_alpha: float = 0.8
    naive_temperature: float = 10.0

    @classmethod
    def from_config(cls, teacher: Path | str, dc) -> DistillSettings:
        """Settings for ``teacher`` with the loss settings of a ``DistillConfig`` section."""
        return cls(teacher=str(teacher), **{f.name: getattr(dc, f.name) for f in fields(cls) if f.name != "teacher"})


def neck_channels(model: nn.Module) -> list[int]:
    """Input channels of each level of a model's Detect head (the neck outputs P3-P5)."""
    head = model.model[-1]
    return [int(branch[0].conv.in_channels) for branch in head.cv2]


def _head_dict(out) -> dict:
    """The raw training dict from a head's output, in train or eval mode, one-to-many branch for end-to-end heads."""
    if isinstance(out, tuple):
        out = out[1]
    if isinstance(out, dict) and "one2many" in out:
        out = out["one2many"]
    return out


def load_teacher(path: str, device: torch.device) -> nn.Module:
    from yolopress.checkpoints import load_model

    teacher = load_model(path).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.half() if device.type == "cuda" else teacher.float()


# The terms of the ``yolo`` loss, each weighted by the setting of its name (0 leaves it out).
KD_TERMS: dict[str, Callable[[DistillSettings, nn.Module, nn.Module], nn.Module]] = {
    "cls": lambda s, student, teacher: ClassificationKD(s.cls_temperature),
    "ld": lambda s, student, teacher: LocalizationKD(student.model[-1].reg_max, s.ld_temperature),
    "cwd": lambda s, student, teacher: ChannelWiseKD(neck_channels(student), neck_channels(teacher), s.cwd_tau),
}


class YoloKD:
    """yolopress' loss: the detection loss plus the weighted ``KD_TERMS`` on the anchors ``weighting``
    picks, scaled by the schedule and, like Ultralytics' detection loss, by the batch size."""

    def __init__(self, s: DistillSettings, student: nn.Module, teacher: nn.Module) -> None:
        self.s = s
        self.terms = [(n, getattr(s, n), make(s, student, teacher)) for n, make in KD_TERMS.items() if getattr(s, n)]
        self.label = "+".join(n for n, _, _ in self.terms)

    def __call__(self, student: dict, teacher: dict, fg_mask, det_loss, items: dict, bs: int, scale: float):
        weight = anchor_weights(teacher, fg_mask, self.s.weighting)
        kd_total = det_loss.new_zeros(())
        for name, w, term in self.terms:
            value = term(student, teacher, weight)
            items[f"kd_{name}"] = value.detach()
            kd_total = kd_total + w * value
        return torch.cat([det_loss * bs, (scale * kd_total * bs).view(1)])


class NaiveKD:
    """The control, exactly as users write it: (1 - alpha) * detection loss + alpha * softmax logit KD,
    on every anchor, with no schedule."""

    label = "naive logit KD"

    def __init__(self, s: DistillSettings, student: nn.Module, teacher: nn.Module) -> None:
        self.alpha = s.naive_alpha
        self.terms = [("naive", s.naive_alpha, NaiveLogitKD(s.naive_temperature))]

    def __call__(self, student: dict, teacher: dict, fg_mask, det_loss, items: dict, bs: int, scale: float):
        kd = self.terms[0][2](student, teacher)
        items["kd_naive"] = kd.detach()
        return torch.cat([(1 - self.alpha) * det_loss * bs, (self.alpha * kd).view(1)])


KD_LOSSES: dict[str, type] = {"yolo": YoloKD, "naive": NaiveKD}


class DistillCriterion:
    """Detection loss of the student plus the distillation terms; a plain object, never part of the model.

    (Kept off the module tree so the teacher never lands in the student's state_dict, EMA or checkpoints.)
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, settings: DistillSettings, epochs: int) -> None:
        if settings.loss not in KD_LOSSES:
            raise ValueError(f"unknown distillation loss {settings.loss!r}; use one of {', '.join(KD_LOSSES)}")
        self.det = student.init_criterion()
        self.teacher, self.s, self.epochs, self.epoch = teacher, settings, epochs, 0
        self.loss = KD_LOSSES[settings.loss](settings, student, teacher)
        device = next(student.parameters()).device
        for _, _, term in self.loss.terms:
            term.to(device)
        self.teacher_ms: list[float] = []

    @property
    def terms(self) -> list[tuple[str, float, nn.Module]]:
        """(name, weight, module) of each distillation term in use."""
        return self.loss.terms

    def parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the distillation terms (the CWD adapters)."""
        return [p for _, _, term in self.terms for p in term.parameters()]

    def _teacher_forward(self, img: torch.Tensor) -> dict:
        dtype = next(self.teacher.parameters()).dtype
        cuda = img.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(img.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = _head_dict(self.teacher(img.to(dtype)))
        if cuda:
            torch.cuda.synchronize(img.device)
        self.teacher_ms.append((time.perf_counter() - t0) * 1000)
        return out

    def __call__(self, preds, batch: dict) -> tuple[torch.Tensor, dict]:
        student = _head_dict(self.det.parse_output(preds))
        (fg_mask, *_), det_loss, items = self.det.get_assigned_targets_and_loss(student, batch)
        teacher = self._teacher_forward(batch["img"])
        if teacher["scores"].shape != student["scores"].shape:
            raise RuntimeError(
                f"teacher outputs {tuple(teacher['scores'].shape)} do not match the student's "
                f"{tuple(student['scores'].shape)}: same classes, strides and image size are required"
            )
        scale = kd_scale(self.s.schedule, self.epoch, self.epochs)
        total = self.loss(student, teacher, fg_mask, det_loss, items, student["boxes"].shape[0], scale)
        return total, items


class DistillationTrainer(DetectionTrainer):
    """Ultralytics' DetectionTrainer with a teacher; use ``DistillationTrainer.configured(settings)``."""

    settings: ClassVar[DistillSettings | None] = None

    @classmethod
    def configured(cls, settings: DistillSettings) -> type:
        """This trainer class bound to ``settings``: what ``YOLO.train(trainer=...)`` takes."""
        return type(cls.__name__, (cls,), {"settings": settings, "__module__": cls.__module__})

    def __init__(self, cfg=DEFAULT_CFG, overrides=None, _callbacks=None):
        if self.settings is None:
            raise TypeError(
                f"{type(self).__name__} has no distillation settings: train with {type(self).__name__}"
                ".configured(settings)"
            )
        super().__init__(cfg, overrides, _callbacks)
        self.kd = self.settings
        self.kd_criterion: DistillCriterion | None = None
        # A DDP worker is rebuilt with the parent's callbacks, which already hold these two
        for event, hook in (("on_pretrain_routine_end", _attach_criterion), ("on_train_epoch_start", _set_epoch)):
            if hook not in self.callbacks[event]:
                self.add_callback(event, hook)

    def build_optimizer(self, model, *args, **kwargs):
        # The criterion (with its trainable adapters) must exist before the optimizer is built;
        # it is attached to the student only after the EMA copy is made (see _attach_criterion),
        # so the EMA, validation and checkpoints never carry the teacher.
        student = unwrap_model(model)
        teacher = load_teacher(self.kd.teacher, self.device)
        check_class_names(teacher.names, self.data["names"], Path(self.kd.teacher), Path(self.args.data))
        self.kd_criterion = DistillCriterion(student, teacher, self.kd, self.epochs)
        if self.world_size > 1 and torch.distributed.is_initialized():
            # Each rank seeds its RNG differently, so the adapters start apart; DDP syncs only the student
            for p in self.kd_criterion.parameters():
                torch.distributed.broadcast(p.data, src=0)
        optimizer = super().build_optimizer(model, *args, **kwargs)
        if params := self.kd_criterion.parameters():
            optimizer.add_param_group({"params": params, "weight_decay": 0.0, "param_group": "kd"})
        return optimizer

    def optimizer_step(self):
        # The adapters live outside the DDP-wrapped student, so DDP does not average their gradients
        if self.world_size > 1 and torch.distributed.is_initialized():
            for p in self.kd_criterion.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.world_size
        super().optimizer_step()


def _attach_criterion(trainer: DistillationTrainer) -> None:
    unwrap_model(trainer.model).criterion = trainer.kd_criterion


def _set_epoch(trainer: DistillationTrainer) -> None:
    trainer.kd_criterion.epoch = trainer.epoch


def run_stage(ctx: StageContext) -> StageResult:
    """The ``distill`` stage: the student trained as in ``native``, with the same settings, plus the teacher."""
    dc, sc = ctx.cfg.distill, ctx.cfg.student
    teacher = ctx.inputs["teacher"].path("model")
    data_yaml = ctx.inputs["data"].path("data_yaml")
    check_teacher(teacher, data_yaml)  # before any training starts, not in the middle of its set-up
    settings = DistillSettings.from_config(teacher, dc)
    model = check_model_source(sc.model, "student.model")
    box: dict = {}
    _, metrics = train(
        model,
        sc,
        ctx.cfg,
        data_yaml,
        ctx.out,
        f"distill {Path(model).stem}",
        trainer=DistillationTrainer.configured(settings),
        on_trainer=lambda t: box.setdefault("trainer", t),
    )
    criterion = box["trainer"].kd_criterion
    times = criterion.teacher_ms
    metrics["teacher_forward_ms"] = median(times[len(times) // max(sc.epochs, 1) :] or times)
    return StageResult(
        {"model": "model.pt"},
        {**metrics, "kd": {k: v for k, v in asdict(settings).items() if k != "teacher"}},
        summary(f"{Path(model).stem} {metrics['epochs']} epochs with {criterion.loss.label}", metrics),
    )


def check_teacher(teacher: Path, data_yaml: Path) -> None:
    """Refuse a teacher that is not a detection model of the dataset's classes (names and order)."""
    from yolopress.checkpoints import load_model

    model = load_model(teacher)
    check_class_names(model.names, load_data_yaml(data_yaml).names, teacher, data_yaml)
