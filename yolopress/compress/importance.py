"""Channel importance criteria for pruning: a name -> implementation table, chosen by ``prune.importance``.

Each entry makes a torch-pruning criterion. torch-pruning is imported only when one is made, so
the config can list the names without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable


def _magnitude():
    import torch_pruning as tp

    return tp.importance.GroupMagnitudeImportance(p=2)  # L2 norm of each channel's weights across its group


def _taylor():
    import torch_pruning as tp

    return tp.importance.GroupTaylorImportance()  # first-order loss change; needs gradients from training batches


def _bn_scale():
    import torch_pruning as tp

    return tp.importance.BNScaleImportance()  # |gamma| of the BatchNorm after each channel


IMPORTANCE: dict[str, Callable] = {"magnitude": _magnitude, "taylor": _taylor, "bn_scale": _bn_scale}
NEEDS_GRADIENTS = ("taylor",)  # criteria that score channels from loss gradients on training batches


def make_importance(name: str):
    """A torch-pruning importance criterion by name (see ``IMPORTANCE``)."""
    if name not in IMPORTANCE:
        raise ValueError(f"unknown importance {name!r}; use one of {', '.join(IMPORTANCE)}")
    return IMPORTANCE[name]()
