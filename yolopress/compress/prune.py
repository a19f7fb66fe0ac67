"""Structured channel pruning of Ultralytics YOLO detection models on torch-pruning's dependency graph.

Pruning removes whole channels: every convolution, BatchNorm and concatenation that shares a
channel with a removed one shrinks with it, so the result is a smaller dense model (fewer
parameters, fewer MACs, a smaller ONNX), made of the same Ultralytics classes as the original.
``YOLO(path)`` loads it, ``yolo val`` evaluates it and the ONNX/OpenVINO exporters export it.

What needs care in YOLOv8/YOLO11, and how it is handled:

- C2f, C3k2 and C2PSA split the output of their first convolution in two halves (``chunk`` or
  ``split``). torch-pruning's index mapping through a split that feeds a concatenation is wrong
  for these blocks (measured with torch-pruning 1.6.1: it maps concat indices onto the split's
  input and fails with an out-of-range index). So before pruning, each such block's ``cv1`` is
  cut into two independent convolutions, one per half (:class:`yolopress.compress.csp._HalvedCSP`); after pruning they
  are merged back. The block's code still splits in two equal halves, so both halves must keep the
  same number of channels: every group loses the same share of its channels (local pruning; with
  ``cost_power`` the two halves share one weight), and the halves are groups of the same size, so they keep
  the same count.
- Attention (C2PSA's ``Attention``) reshapes its channels into heads; its convolutions are kept,
  and with them the residual stream they add into. The FFN's hidden channels are pruned.
- The Detect head's last convolutions (box distribution and class scores) and the DFL keep their
  outputs, so the head's outputs and the number of classes stay as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from yolopress.compress.csp import _HalvedCSP, halve_csp_blocks, restore_csp_blocks
from yolopress.compress.importance import NEEDS_GRADIENTS, make_importance

MAX_CHANNEL_RATIO = 0.9  # never remove more than this share of any layer's channels
BISECTION_STEPS = 8  # the channel share is found to within MAX_CHANNEL_RATIO / 256


class PruneError(ValueError):
    """A pruning request that cannot be met, worded for the person who made it."""

    def __init__(self, message: str, reachable: float | None = None) -> None:
        super().__init__(message)
        self.reachable = reachable  # the largest share of MACs that can be removed, when that was the problem


def protected_layers(model: nn.Module) -> list[nn.Module]:
    """Layers whose output channels must stay: the head's output convolutions, the DFL and attention."""
    from ultralytics.nn.modules.block import Attention
    from ultralytics.nn.modules.head import Detect

    head = model.model[-1]
    if not isinstance(head, Detect):
        raise PruneError(f"yolopress prunes detection models; this model ends in {type(head).__name__}")
    keep: list[nn.Module] = []
    if isinstance(getattr(head, "dfl", None), nn.Module):
        keep.append(head.dfl)
    for name in ("cv2", "cv3", "one2one_cv2", "one2one_cv3"):
        for branch in getattr(head, name, None) or []:
            keep.append(branch[-1])
    for m in model.modules():
        if isinstance(m, Attention):
            keep.extend((m.qkv, m.proj, m.pe))
    return keep


def count_macs(model: nn.Module, imgsz: int) -> tuple[int, int]:
    """(MACs, parameters) of one forward pass at ``imgsz`` x ``imgsz``.

    MACs of the convolutions and linear layers, the ones that cost time (BatchNorm folds into the
    convolution at export); counted with hooks on one forward pass.
    """
    total = [0]

    def hook(m: nn.Module, _inp, out: torch.Tensor) -> None:
        if isinstance(m, nn.Conv2d):
            k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]  # in/groups * kh * kw
            total[0] += out.numel() // out.shape[0] * k
        else:
            total[0] += out.numel() // out.shape[0] * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    p = next(model.parameters())
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, imgsz, imgsz, device=p.device, dtype=p.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return int(total[0]), int(sum(q.numel() for q in model.parameters()))


@dataclass
class PruneReport:
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    channel_share: float  # share of each prunable group's channels removed

    @property
    def macs_ratio(self) -> float:
        """Share of MACs removed."""
        return 1 - self.macs_after / self.macs_before

    def as_dict(self) -> dict:
        return {
            "macs_before": self.macs_before,
            "macs_after": self.macs_after,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "macs_removed": round(self.macs_ratio, 4),
            "channel_share": round(self.channel_share, 4),
        }


def prune(
    model: nn.Module,
    macs_target: int,
    imgsz: int,
    importance: str = "magnitude",
    gradients: Callable[[nn.Module], None] | None = None,
    round_to: int | None = None,
    cost_power: float = 0.0,
) -> PruneReport:
    """Prune ``model`` in place until its MACs are at most ``macs_target``.

    Every prunable group of coupled channels loses a share of its channels, the least important
    first: the same share everywhere (``cost_power`` 0, local pruning), or a share that grows with
    the MACs one of the group's channels costs, as ``cost^cost_power`` (:func:`group_weights`), so
    that layers at high resolution, where the time goes, give more than the deep layers that hold
    most of the parameters. Channel counts depend only on that scale, so it is found by bisection
    on copies, then the model is pruned once with the chosen ``importance``;
    ``gradients(model)`` must fill ``.grad`` for the Taylor criterion. ``round_to`` keeps every
    pruned group's channel count a multiple of it (CPU and GPU kernels run faster on such counts).
    Raises :class:`PruneError` (model unchanged) when even the largest allowed share misses the target.
    """
    if importance in NEEDS_GRADIENTS and gradients is None:
        raise PruneError(f"the {importance} importance needs training batches to compute gradients on")
    macs_before, params_before = count_macs(model, imgsz)
    check_reachable(model, macs_target, imgsz, round_to)
    # a scale of hi puts every group at MAX_CHANNEL_RATIO, the floor check_reachable measured
    hi = MAX_CHANNEL_RATIO
    if cost_power:
        hi /= min(_weights_of(model, imgsz, cost_power), default=1.0)
    if macs_before <= macs_target:
        share = 0.0
    else:
        # the same resolution as the uniform search, however far hi reaches beyond MAX_CHANNEL_RATIO
        steps = BISECTION_STEPS + max(0, math.ceil(math.log2(hi / MAX_CHANNEL_RATIO)))
        share = smallest_meeting(lambda x: _macs_at(model, x, imgsz, round_to, cost_power) <= macs_target, hi, steps)
    if share > 0:
        if gradients is not None:
            model.zero_grad(set_to_none=True)
            gradients(model)
        _prune_share(model, share, imgsz, importance, round_to, cost_power)
        model.zero_grad(set_to_none=True)
    macs_after, params_after = count_macs(model, imgsz)
    return PruneReport(macs_before, macs_after, params_before, params_after, share)


def _macs_at(model: nn.Module, share: float, imgsz: int, round_to: int | None, cost_power: float = 0.0) -> int:
    """MACs of a copy of ``model`` pruned by ``share`` (the model itself is left alone)."""
    trial = copy.deepcopy(model)
    _prune_share(trial, share, imgsz, "magnitude", round_to, cost_power)
    return count_macs(trial, imgsz)[0]


def _weights_of(model: nn.Module, imgsz: int, cost_power: float) -> list[float]:
    """The share weights of ``model``'s prunable groups (:func:`group_weights`), on a copy."""
    weights: list[float] = []
    _prune_share(copy.deepcopy(model), 0.0, imgsz, "magnitude", None, cost_power, weights_out=weights)
    return weights


def check_reachable(model: nn.Module, macs_target: int, imgsz: int, round_to: int | None = None) -> None:
    """Raise :class:`PruneError`, naming the largest reachable share, if ``macs_target`` cannot be met."""
    macs_before = count_macs(model, imgsz)[0]
    if macs_before <= macs_target:
        return
    floor = _macs_at(model, MAX_CHANNEL_RATIO, imgsz, round_to)
    if floor > macs_target:
        reachable = math.floor((1 - floor / macs_before) * 100) / 100
        raise PruneError(
            f"cannot remove {1 - macs_target / macs_before:.0%} of the MACs: removing {MAX_CHANNEL_RATIO:.0%} of every "
            f"prunable layer's channels removes only {1 - floor / macs_before:.0%} (the head's output layers and "
            f"attention stay). Ask for less (prune.macs <= {reachable:.2f}) or start from a smaller model.",
            reachable=reachable,
        )


def smallest_meeting(meets: Callable[[float], bool], hi: float, steps: int) -> float:
    """Bisection on [0, hi] for the smallest x with ``meets(x)``, given ``meets(hi)`` and a monotone ``meets``."""
    lo = 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return hi


def kept_channels(channels: int, share: float, round_to: int | None) -> int:
    """How many of a group's ``channels`` stay when ``share`` of them is removed.

    With ``round_to``, the count is the nearest multiple of it (never 0); a group smaller than
    ``round_to`` is left whole. Monotone in ``share``, so a MACs target can be bisected.
    """
    if not round_to:
        return max(1, channels - int(channels * share))
    if channels < round_to:
        return channels
    return min(channels, max(round_to, round(channels * (1 - share) / round_to) * round_to))


def _prune_share(
    model: nn.Module,
    share: float,
    imgsz: int,
    importance: str,
    round_to: int | None = None,
    cost_power: float = 0.0,
    weights_out: list[float] | None = None,
) -> None:
    """Remove ``share`` of the channels of every prunable group of ``model`` (times the group's weight, see
    :func:`group_weights`, with ``cost_power``), in place, least important first. ``weights_out`` receives
    the weights."""
    import torch_pruning as tp

    was_training = model.training
    halve_csp_blocks(model)
    try:
        for p in model.parameters():
            p.requires_grad_(True)  # tracing follows grad_fn; a loaded checkpoint may have them off
        x = torch.zeros(1, 3, imgsz, imgsz, device=next(model.parameters()).device)
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
        ignored = [m for layer in protected_layers(model) for m in layer.modules()]
        ignored += _halves_to_keep(model, graph, ignored)
        score = make_importance(importance)
        groups = list(graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d]))
        weights = group_weights(model, graph, groups, x, cost_power) if cost_power else [1.0] * len(groups)
        if weights_out is not None:
            weights_out.extend(weights)
        for group, weight in zip(groups, weights, strict=True):
            root = group[0][0].target.module
            channels = graph.get_out_channels(root)
            keep = kept_channels(channels, min(MAX_CHANNEL_RATIO, share * weight), round_to)
            if keep >= channels:
                continue
            group = graph.get_pruning_group(root, tp.prune_conv_out_channels, list(range(channels)))
            idxs = score(group).argsort()[: channels - keep].tolist()
            graph.get_pruning_group(root, tp.prune_conv_out_channels, idxs).prune()
    finally:
        restore_csp_blocks(model)
        model.train(was_training)


def group_weights(model: nn.Module, graph, groups: list, x: torch.Tensor, cost_power: float) -> list[float]:
    """Each group's share of channels to remove relative to the others: (MACs of one of its channels)^cost_power.

    A channel's MACs are those of every convolution it is an output or an input channel of, at the spatial
    size that convolution runs at (a forward pass on ``x``), so a channel of the 16-channel stem at full
    resolution costs more than one of the 256-channel layers at 1/32. The two halves of a split block get
    their mean, so they keep equal counts. Normalised to a geometric mean of 1. Only the architecture
    matters, so a copy gets the same weights.
    """
    area: dict[nn.Module, int] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: area.__setitem__(mod, out.shape[-2] * out.shape[-1]))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    costs = []
    for group in groups:
        cost = 0
        for dep, _ in group:
            conv = dep.target.module
            if not isinstance(conv, nn.Conv2d) or conv not in area:
                continue
            kernel = conv.kernel_size[0] * conv.kernel_size[1] * area[conv]
            if graph.is_out_channel_pruning_fn(dep.handler):
                cost += kernel * conv.in_channels // conv.groups
            elif graph.is_in_channel_pruning_fn(dep.handler):
                cost += kernel * conv.out_channels // conv.groups
        costs.append(max(cost, 1))
    owner = {  # every convolution whose outputs a group removes -> that group
        id(dep.target.module): i
        for i, g in enumerate(groups)
        for dep, _ in g
        if graph.is_out_channel_pruning_fn(dep.handler)
    }
    for block in (m for m in model.modules() if isinstance(m, _HalvedCSP)):
        pair = [owner[id(h.conv)] for h in (block.a, block.b) if id(h.conv) in owner]
        if len(pair) == 2 and pair[0] != pair[1]:
            costs[pair[0]] = costs[pair[1]] = (costs[pair[0]] + costs[pair[1]]) / 2
    weights = [c**cost_power for c in costs]
    mean = math.exp(sum(math.log(w) for w in weights) / max(len(weights), 1))
    return [w / mean for w in weights]


def _halves_to_keep(model: nn.Module, graph, ignored: list[nn.Module]) -> list[nn.Module]:
    """Both halves of a block stay whole when one of them cannot be pruned (C2PSA: the attention side)."""
    import torch_pruning as tp

    keep: list[nn.Module] = []
    for block in (m for m in model.modules() if isinstance(m, _HalvedCSP)):
        for half in (block.a, block.b):
            group = graph.get_pruning_group(half.conv, tp.prune_conv_out_channels, list(range(half.conv.out_channels)))
            if any(graph.is_out_channel_pruning_fn(dep.handler) and dep.target.module in ignored for dep, _ in group):
                keep += [*block.a.modules(), *block.b.modules()]
                break
    return keep


def check_consistent(model: nn.Module, imgsz: int, expected: tuple[int, ...] | None = None) -> None:
    """A forward pass in eval and train mode; raises if the pruned model is not a working detector."""
    x = torch.zeros(1, 3, imgsz, imgsz, device=next(model.parameters()).device)
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            y = model(x)
            y = y[0] if isinstance(y, tuple) else y
            if expected is not None and tuple(y.shape) != tuple(expected):
                raise RuntimeError(f"pruned model outputs {tuple(y.shape)}, expected {tuple(expected)}")
    finally:
        model.train(was_training)


def save_checkpoint(model: nn.Module, source: Path, dest: Path, meta: dict) -> None:
    """Save ``model`` as an Ultralytics checkpoint shaped like ``source`` (same names, args, dates)."""
    from yolopress.checkpoints import load_raw

    ckpt = load_raw(source)
    model = copy.deepcopy(model).cpu().half()
    for p in model.parameters():
        p.requires_grad_(False)
    ckpt.update(model=None, ema=model, optimizer=None, epoch=-1, updates=None, yolopress_prune=meta)
    tmp = dest.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(dest)
