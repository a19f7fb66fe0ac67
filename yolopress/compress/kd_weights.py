"""How much distillation counts: where in the image (per-anchor weighting) and when in training (schedule).

Two name -> implementation tables, chosen by ``distill.weighting`` and ``distill.schedule``; the
config's choices are their keys. The module imports no torch (the weightings only call tensor
methods), so the config can list the names without loading it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# Where distillation looks, from the teacher's best class score per anchor ``conf`` (B, A) and the
# assigner's foreground ``fg`` (B, A, float). Most anchors are background on which the teacher says
# nothing useful: its confidence keeps its hard negatives and near-misses (the soft information), the
# assigner's foreground keeps every labelled object even where the teacher is unsure.
WEIGHTINGS: dict[str, Callable] = {
    "teacher": lambda conf, fg: conf,
    "assigner": lambda conf, fg: fg,
    "both": lambda conf, fg: conf.maximum(fg),
}

# The multiplier of the distillation terms at training progress p (0 at the first epoch, 1 at the last).
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda p: 1.0,
    "linear_decay": lambda p: 1.0 - p,
    "cosine_decay": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
}


def _pick(table: dict, name: str, what: str):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; use one of {', '.join(table)}")
    return table[name]


def anchor_weights(teacher: dict, fg_mask, mode: str):
    """The per-anchor weight (B, A) of the distillation terms under weighting ``mode`` (see ``WEIGHTINGS``).

    ``teacher`` is the teacher's head dict (``scores``: (B, nc, A) logits); without an assigner
    mask (``fg_mask`` None) every mode falls back to the teacher's confidence, and so do the images past
    ``fg_mask``'s (B', A) rows (unlabeled images: there is no assigner where there are no labels).
    """
    pick = _pick(WEIGHTINGS, mode, "anchor weighting")
    conf = teacher["scores"].float().sigmoid().amax(1)
    if fg_mask is None:
        return conf
    n = fg_mask.shape[0]
    weight = conf.clone()
    weight[:n] = pick(conf[:n], fg_mask.float())
    return weight


def kd_scale(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of the distillation terms at ``epoch`` (0-based) of ``epochs`` under ``schedule``."""
    return _pick(SCHEDULES, schedule, "KD schedule")(epoch / max(epochs - 1, 1))
