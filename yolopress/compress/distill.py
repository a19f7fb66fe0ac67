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

import os
import shutil
import time
from collections.abc import Callable
from copy import copy
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG
from ultralytics.utils.torch_utils import unwrap_model

from yolopress.compress.kd_weights import anchor_weights, kd_scale
from yolopress.compress.losses import ChannelWiseKD, ClassificationKD, CrossHeadKD, LocalizationKD, NaiveLogitKD
from yolopress.compress.pseudo import pseudo_labels
from yolopress.data.check import check_class_names
from yolopress.data.dataset import load_data_yaml
from yolopress.data.pool import prepare
from yolopress.stage import StageContext, StageResult
from yolopress.train import check_model_source, median, start_label, summary, train


@dataclass
class DistillSettings:
    teacher: str  # path of the teacher checkpoint
    loss: str = "yolo"  # "yolo": cls + LD + CWD below; "naive": the softmax logit KD control
    cls: float = 1.0
    ld: float = 1.0
    cwd: float = 1.0
    cross: float = 0.0  # CrossKD: the student's head features through the teacher's head
    cls_temperature: float = 1.0
    ld_temperature: float = 2.0
    cwd_tau: float = 1.0
    weighting: str = "both"  # anchors distilled: teacher confidence, assigner foreground, or both
    schedule: str = "constant"  # KD weight over training: constant, linear_decay, cosine_decay
    naive_alpha: float = 0.8
    naive_temperature: float = 10.0
    unlabeled: str | None = None  # a folder of unlabeled images (the stage prepares it), distilled on alongside
    unlabeled_batch: int | None = None  # its images per step
    unlabeled_mixup: float = 0.0  # the share of its images blended with another of them
    pseudo_conf: float | None = None  # the teacher's pool detections scoring this much become labels (compress/pseudo)

    @classmethod
    def from_config(cls, teacher: Path | str, dc, unlabeled: Path | None = None, batch: int = 16) -> DistillSettings:
        """Settings for ``teacher`` with the loss settings of a ``DistillConfig`` section, and the prepared
        ``unlabeled`` pool (``batch``: the student's, whose half is the pool's default batch)."""
        own = {
            f.name: getattr(dc, f.name)
            for f in fields(cls)
            if f.name not in ("teacher", "unlabeled", "unlabeled_batch", "unlabeled_mixup")
        }
        pool = (
            {
                "unlabeled": str(unlabeled),
                "unlabeled_batch": dc.unlabeled_batch or max(1, batch // 2),
                "unlabeled_mixup": dc.unlabeled_mixup,
            }
            if unlabeled
            else {}
        )
        return cls(teacher=str(teacher), **own, **pool)


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


def _images(out, part: slice):
    """The images ``part`` of a head's output (tensors, and lists of them, batch first)."""
    if isinstance(out, torch.Tensor):
        return out[part]
    if isinstance(out, dict):
        return {k: _images(v, part) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return type(out)(_images(v, part) for v in out)
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
    "cross": lambda s, student, teacher: CrossHeadKD(
        student.model[-1], teacher.model[-1], s.cls_temperature, s.ld_temperature
    ),
}


class YoloKD:
    """yolopress' loss: the detection loss plus the weighted ``KD_TERMS`` on the anchors ``weighting``
    picks, scaled by the schedule and, like Ultralytics' detection loss, by the batch size."""

    def __init__(self, s: DistillSettings, student: nn.Module, teacher: nn.Module) -> None:
        self.s = s
        self.terms = [(n, getattr(s, n), make(s, student, teacher)) for n, make in KD_TERMS.items() if getattr(s, n)]
        self.label = "+".join(n for n, _, _ in self.terms)

    def __call__(self, student: dict, teacher: dict, fg_mask, det_sum, items: dict, scale: float):
        """``det_sum``: the detection loss summed over the images that have labels (the pool's only with
        ``pseudo_conf``); ``fg_mask``: the assigner's foreground of the labeled ones (the first images)."""
        weight = anchor_weights(teacher, fg_mask, self.s.weighting)
        kd_total = det_sum.new_zeros(())
        for name, w, term in self.terms:
            value = term(student, teacher, weight)
            items[f"kd_{name}"] = value.detach()
            kd_total = kd_total + w * value
        # like the detection loss, a sum over images: a pool image counts as much as a labeled one
        return torch.cat([det_sum, (scale * kd_total * student["boxes"].shape[0]).view(1)])


class NaiveKD:
    """The control, exactly as users write it: (1 - alpha) * detection loss + alpha * softmax logit KD,
    on every anchor, with no schedule."""

    label = "naive logit KD"

    def __init__(self, s: DistillSettings, student: nn.Module, teacher: nn.Module) -> None:
        self.alpha = s.naive_alpha
        self.terms = [("naive", s.naive_alpha, NaiveLogitKD(s.naive_temperature))]

    def __call__(self, student: dict, teacher: dict, fg_mask, det_sum, items: dict, scale: float):
        kd = self.terms[0][2](student, teacher)
        items["kd_naive"] = kd.detach()
        return torch.cat([(1 - self.alpha) * det_sum, (self.alpha * kd).view(1)])


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
        # images past the first n_labeled come from the unlabeled pool: no detection loss there, distillation only
        n = batch.get("n_labeled", student["boxes"].shape[0])
        labeled = _images(student, slice(n))
        (fg_mask, *_), det_loss, items = self.det.get_assigned_targets_and_loss(labeled, batch)
        teacher = self._teacher_forward(batch["img"])
        if teacher["scores"].shape != student["scores"].shape:
            raise RuntimeError(
                f"teacher outputs {tuple(teacher['scores'].shape)} do not match the student's "
                f"{tuple(student['scores'].shape)}: same classes, strides and image size are required"
            )
        det_sum = det_loss * n
        if self.s.pseudo_conf is not None:
            pool = slice(n, None)
            det_sum = det_sum + self._pseudo_loss(_images(student, pool), _images(teacher, pool), items)
        scale = kd_scale(self.s.schedule, self.epoch, self.epochs)
        total = self.loss(student, teacher, fg_mask, det_sum, items, scale)
        return total, items

    def _pseudo_loss(self, student: dict, teacher: dict, items: dict) -> torch.Tensor:
        """The detection loss of the pool images against the teacher's confident detections, summed over them."""
        m = student["boxes"].shape[0]
        if not m:
            items["pseudo_boxes"] = student["boxes"].new_zeros(())
            return student["boxes"].new_zeros(3)
        labels = pseudo_labels(teacher, self.det, self.s.pseudo_conf)
        _, loss, _ = self.det.get_assigned_targets_and_loss(student, labels)
        items["pseudo_boxes"] = loss.new_tensor(labels["cls"].shape[0] / m)  # per pool image: is the threshold sane?
        return loss * m


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
        self.pool_loader, self._pool = None, None
        # A DDP worker is rebuilt with the parent's callbacks, which already hold these
        hooks = (
            ("on_pretrain_routine_end", _attach_criterion),
            ("on_pretrain_routine_end", _build_pool_loader),
            ("on_train_epoch_start", _set_epoch),
        )
        for event, hook in hooks:
            if hook not in self.callbacks[event]:
                self.add_callback(event, hook)

    def preprocess_batch(self, batch: dict) -> dict:
        # Pool images join the labeled batch (before multi-scale, so both get the same size): one forward of the
        # student, whose BatchNorm statistics then see the deployment domain too; the criterion splits them
        if self._pool is not None:
            extra = next(self._pool)["img"]
            batch["n_labeled"] = batch["img"].shape[0]
            batch["img"] = torch.cat([batch["img"], extra])
        return super().preprocess_batch(batch)

    def _close_dataloader_mosaic(self):
        super()._close_dataloader_mosaic()
        if self.pool_loader is not None:
            _close_pool_mosaic(self)

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


def _cycle(loader):
    while True:
        yield from loader


def _pool_hyp(args, mixup: float, **more):
    """The training hyperparameters with the pool's MixUp share (and ``more``), a copy."""
    hyp = copy(args)
    hyp.mixup = mixup
    for k, v in more.items():
        setattr(hyp, k, v)
    return hyp


def _build_pool_loader(trainer: DistillationTrainer) -> None:
    """The unlabeled pool's loader: the training set's augmentation (plus ``unlabeled_mixup``), ``unlabeled_batch``
    images a step."""
    if not trainer.kd.unlabeled:
        return
    rank = int(os.environ.get("LOCAL_RANK", -1))
    batch = max(1, trainer.kd.unlabeled_batch // max(trainer.world_size, 1))
    args = trainer.args
    trainer.args = _pool_hyp(args, trainer.kd.unlabeled_mixup) if trainer.kd.unlabeled_mixup else args
    try:  # the dataset reads its augmentation from trainer.args when it is built
        trainer.pool_loader = trainer.get_dataloader(trainer.kd.unlabeled, batch_size=batch, rank=rank, mode="train")
    finally:
        trainer.args = args
    trainer._pool = _cycle(trainer.pool_loader)


def _close_pool_mosaic(trainer: DistillationTrainer) -> None:
    """The pool's augmentation follows the labeled set's when its mosaic closes, but keeps ``unlabeled_mixup``:
    blending is what such a pool is for."""
    dataset = trainer.pool_loader.dataset
    dataset.mosaic = False
    dataset.close_mosaic(hyp=copy(trainer.args))
    if trainer.kd.unlabeled_mixup:
        closed = {"mosaic": 0.0, "copy_paste": 0.0, "cutmix": 0.0}
        dataset.transforms = dataset.build_transforms(_pool_hyp(trainer.args, trainer.kd.unlabeled_mixup, **closed))
    trainer.pool_loader.reset()
    trainer._pool = _cycle(trainer.pool_loader)


def pool_mixup(dataset) -> float:
    """The MixUp share that ``dataset``'s augmentation applies now (0 without one): what the pool really got."""
    from ultralytics.data.augment import MixUp

    stack = [dataset.transforms]
    while stack:
        t = stack.pop()
        if isinstance(t, MixUp):
            return float(t.p)
        stack += getattr(t, "transforms", [])
    return 0.0


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
    pool = prepare(ctx.cfg, ctx.out / "pool", ctx.progress, data_yaml) if dc.unlabeled else None
    settings = DistillSettings.from_config(teacher, dc, pool, sc.batch)
    model = check_model_source(sc.model, "student.model")
    box: dict = {}
    try:
        _, metrics = train(
            model,
            sc,
            ctx.cfg,
            data_yaml,
            ctx.out,
            f"distill {start_label(model)}",
            trainer=DistillationTrainer.configured(settings),
            on_trainer=lambda t: box.setdefault("trainer", t),
        )
    finally:
        if pool is not None:  # links to the user's images, or generated ones: made again from the config
            shutil.rmtree(pool.parent, ignore_errors=True)
    criterion = box["trainer"].kd_criterion
    times = criterion.teacher_ms
    metrics["teacher_forward_ms"] = median(times[len(times) // max(sc.epochs, 1) :] or times)
    label = criterion.loss.label
    if pool is not None:
        metrics["unlabeled_images"] = box["trainer"].pool_loader and len(box["trainer"].pool_loader.dataset)
        metrics["unlabeled_mixup"] = box["trainer"].pool_loader and pool_mixup(box["trainer"].pool_loader.dataset)
        label += f", {metrics['unlabeled_images']} unlabeled images ({settings.unlabeled_batch} a step)"
    kd = {k: v for k, v in asdict(settings).items() if k not in ("teacher", "unlabeled")}
    return StageResult(
        {"model": "model.pt"},
        {**metrics, "kd": kd, "unlabeled": dc.unlabeled},
        summary(f"{start_label(model)} {metrics['epochs']} epochs with {label}", metrics),
    )


def check_teacher(teacher: Path, data_yaml: Path) -> None:
    """Refuse a teacher that is not a detection model of the dataset's classes (names and order)."""
    from yolopress.checkpoints import load_model

    model = load_model(teacher)
    check_class_names(model.names, load_data_yaml(data_yaml).names, teacher, data_yaml)
