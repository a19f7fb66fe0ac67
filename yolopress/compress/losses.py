"""Distillation losses made for YOLO's anchor-free head: sigmoid scores per class, DFL box bins.

Every loss takes the student's and the teacher's raw training outputs (the Ultralytics 8.4
head dict: ``scores`` (B, nc, A) logits, ``boxes`` (B, 4 * reg_max, A) DFL logits, ``feats``
the neck maps P3-P5) and a per-anchor weight (B, A) (:mod:`yolopress.compress.kd_weights`), and returns a scalar that is

- zero when the student's outputs equal the teacher's (KL divergences, not cross-entropies),
- independent of batch size, image size and the number of anchors: sums over anchors are
  divided by the sum of the weights, feature losses are means over channels and images of
  distributions over space.

``CrossHeadKD`` distils through the teacher's head instead of onto the student's predictions.
``NaiveLogitKD`` is the control: the softmax logit KD users write first, which fails on YOLO.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

_EPS = 1e-9


def bernoulli_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float) -> torch.Tensor:
    """KL(teacher || student) of per-class Bernoulli distributions at temperature ``t``, elementwise."""
    p = torch.sigmoid(teacher_logits / t)
    # BCE(student; p) - BCE(teacher; p) = KL: zero when the logits match, unlike BCE alone (= entropy of p)
    bce = F.binary_cross_entropy_with_logits
    return bce(student_logits / t, p, reduction="none") - bce(teacher_logits / t, p, reduction="none")


def _weighted_mean(per_anchor: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum over (B, A) of per-anchor losses times weights, divided by the weights' sum."""
    return (per_anchor * weight).sum() / weight.sum().clamp(min=_EPS)


class ClassificationKD(nn.Module):
    """Sigmoid-score distillation: Bernoulli KL per class, summed over classes, weighted per anchor."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.t = temperature

    def forward(self, student: dict, teacher: dict, weight: torch.Tensor) -> torch.Tensor:
        kl = bernoulli_kl(student["scores"].float(), teacher["scores"].float(), self.t).sum(1)  # (B, A)
        return _weighted_mean(kl, weight) * self.t**2


class LocalizationKD(nn.Module):
    """Localisation distillation: KL between teacher and student DFL bin distributions of each box side."""

    def __init__(self, reg_max: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.reg_max, self.t = reg_max, temperature

    def forward(self, student: dict, teacher: dict, weight: torch.Tensor) -> torch.Tensor:
        b, _, a = student["boxes"].shape
        s = student["boxes"].float().view(b, 4, self.reg_max, a)
        t = teacher["boxes"].float().view(b, 4, self.reg_max, a)
        kl = F.kl_div(F.log_softmax(s / self.t, 2), F.log_softmax(t / self.t, 2), reduction="none", log_target=True)
        return _weighted_mean(kl.sum(2).mean(1), weight) * self.t**2  # sum over bins, mean over the 4 sides


class ChannelWiseKD(nn.Module):
    """Channel-wise distillation (Shu et al. 2021) on the neck maps, through trainable 1x1 adapters.

    Each channel's activations are turned into a distribution over space (softmax at ``tau``);
    the student (adapted to the teacher's width) matches the teacher's in KL, averaged over
    channels, images and levels.
    """

    def __init__(self, student_channels: list[int], teacher_channels: list[int], tau: float = 1.0) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError(f"student has {len(student_channels)} neck levels, teacher {len(teacher_channels)}")
        self.tau = tau
        pairs = zip(student_channels, teacher_channels, strict=True)
        self.adapters = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in pairs)

    def forward(self, student: dict, teacher: dict, weight: torch.Tensor | None = None) -> torch.Tensor:
        losses = []
        for adapter, s, t in zip(self.adapters, student["feats"], teacher["feats"], strict=True):
            s = adapter(s.to(adapter.weight.dtype)).float().flatten(2)  # (B, C, HW)
            t = t.float().flatten(2)
            kl = F.kl_div(
                F.log_softmax(s / self.tau, 2), F.log_softmax(t / self.tau, 2), reduction="none", log_target=True
            )
            losses.append(kl.sum(2).mean() * self.tau**2)
        return torch.stack(losses).mean()


def _adapter(student_channels: int, teacher_channels: int) -> nn.Module:
    return nn.Identity() if student_channels == teacher_channels else nn.Conv2d(student_channels, teacher_channels, 1)


def _first_block_channels(branch: nn.Sequential) -> int:
    """Output channels of the first block of a head branch (a Conv, or a Sequential ending in one)."""
    convs = [m for m in branch[0].modules() if isinstance(m, nn.Conv2d)]
    return int(convs[-1].out_channels)


@contextlib.contextmanager
def _batchnorm_stats_kept(module: nn.Module):
    """BatchNorm in ``module`` normalises with batch statistics as in training, but leaves its running statistics
    alone: a second pass over the same batch must not count it twice."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


class CrossHeadKD(nn.Module):
    """CrossKD (Wang et al., "CrossKD: Cross-Head Knowledge Distillation for Object Detection", 2023).

    The student's head features after the first block of each branch (box and class, every level)
    run through the rest of the *teacher's* head; those cross-head predictions learn the teacher's
    scores (Bernoulli KL) and DFL boxes (LD). The student's own predictions then learn from the
    labels alone, so the two targets no longer pull one output two ways, while the teacher's
    knowledge still reaches the student's shared layers. Where the widths differ (YOLO11n's class
    branch is half as wide as YOLO11s'), a trainable 1x1 adapter maps them; it is not part of the
    student and is never exported.
    """

    def __init__(self, student_head: nn.Module, teacher_head: nn.Module, cls_t: float = 1.0, ld_t: float = 2.0):
        super().__init__()
        if len(student_head.cv2) != len(teacher_head.cv2):
            raise ValueError(f"student head has {len(student_head.cv2)} levels, teacher {len(teacher_head.cv2)}")
        self._heads = (student_head, teacher_head)  # a tuple: neither becomes a submodule (nor its parameters ours)
        self.box_adapters = nn.ModuleList(
            _adapter(_first_block_channels(s), _first_block_channels(t))
            for s, t in zip(student_head.cv2, teacher_head.cv2, strict=True)
        )
        self.cls_adapters = nn.ModuleList(
            _adapter(_first_block_channels(s), _first_block_channels(t))
            for s, t in zip(student_head.cv3, teacher_head.cv3, strict=True)
        )
        self.cls = ClassificationKD(cls_t)
        self.ld = LocalizationKD(teacher_head.reg_max, ld_t)

    def cross(self, feats: list[torch.Tensor]) -> dict:
        """The cross-head outputs (``scores``, ``boxes``, shaped like the head's) for the student's neck maps."""
        student, teacher = self._heads
        dtype = next(teacher.parameters()).dtype
        bs, boxes, scores = feats[0].shape[0], [], []
        with _batchnorm_stats_kept(student):
            for i, x in enumerate(feats):
                box = self.box_adapters[i](student.cv2[i][0](x))
                cls = self.cls_adapters[i](student.cv3[i][0](x))
                boxes.append(teacher.cv2[i][1:](box.to(dtype)).float().view(bs, 4 * teacher.reg_max, -1))
                scores.append(teacher.cv3[i][1:](cls.to(dtype)).float().view(bs, teacher.nc, -1))
        return {"boxes": torch.cat(boxes, -1), "scores": torch.cat(scores, -1)}

    def forward(self, student: dict, teacher: dict, weight: torch.Tensor) -> torch.Tensor:
        cross = self.cross(student["feats"])
        return self.cls(cross, teacher, weight) + self.ld(cross, teacher, weight)


class NaiveLogitKD(nn.Module):
    """The control: softmax KL over class logits at every anchor, summed over anchors, batch mean.

    This is what a classification-style distiller does to a detector: softmax treats the
    sigmoid scores as one categorical distribution per anchor (there is no background class,
    so thousands of empty anchors get a confident-looking distribution), the sum over anchors
    makes its scale grow with image size, and T=10 flattens what little signal is left.
    """

    def __init__(self, temperature: float = 10.0) -> None:
        super().__init__()
        self.t = temperature

    def forward(self, student: dict, teacher: dict, weight: torch.Tensor | None = None) -> torch.Tensor:
        s = F.log_softmax(student["scores"].float() / self.t, 1)  # over classes
        t = F.log_softmax(teacher["scores"].float() / self.t, 1)
        kl = F.kl_div(s, t, reduction="none", log_target=True).sum(1)  # (B, A)
        return kl.sum() / kl.shape[0] * self.t**2  # "batchmean" over a sum across anchors
