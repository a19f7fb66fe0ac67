"""One INT8 range for all the activation quantizers that read the same tensor.

Each fake-quantized convolution calibrates its own input range (ModelOpt's max calibrator), so a tensor
that feeds several of them is quantized once per reader, each time on another grid. In a C3k2 block the
second half of ``cv1`` feeds the bottleneck's first convolution and, through the concatenation, ``cv2``;
a backbone output feeds the next layer and, through the neck's concatenation, a neck block. OpenVINO's
CPU plugin moves a quantizer above a concatenation onto its inputs, and where one convolution's output
then needs two grids it cannot fuse either into that convolution: the output is written in float and
quantized twice by separate kernels.

:func:`share_input_ranges` finds those readers by running the model once and following each quantizer's
input back through the operations that leave values on their grid (concatenation, nearest-neighbour
upsampling, max pooling, channel chunks), then gives every group the widest of its ranges, before
fine-tuning, so the model that is trained is the one that is deployed. With one grid per tensor, the
export (:func:`yolopress.export.qdq_hoist.hoist_qdq`) can quantize each tensor once, where it is made.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

# operations whose output values are some of their inputs' values, so a quantizer after them sees their inputs' grid
_CONCAT = (torch.cat, torch.concat)
_SELECT = (F.interpolate, F.max_pool2d)


class _Provenance(TorchFunctionMode):
    """Records, for each tensor a value-preserving operation makes, the tensors it was made from."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[int, list[torch.Tensor]] = {}
        self._keep: list[torch.Tensor] = []  # ids stay unique only while the tensors live

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _CONCAT:
            self.parents[id(out)] = list(args[0])
        elif func in _SELECT and (func is not F.interpolate or _nearest(args, kwargs or {})):
            self.parents[id(out)] = [args[0]]
        else:
            return out
        self._keep.append(out)
        return out


def _nearest(args: tuple, kwargs: dict) -> bool:
    mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
    return mode == "nearest"


def shared_range_groups(model: nn.Module, example: torch.Tensor) -> list[list[str]]:
    """The enabled input quantizers of ``model`` (by module name) that read a common tensor, in groups of two or
    more, found on one forward pass of ``example``."""
    reads: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda _m, inp, name=name: reads.setdefault(name, inp[0]))
        for name, m in model.named_modules()
        if name.endswith("input_quantizer") and getattr(m, "is_enabled", False)
    ]
    trace = _Provenance()
    try:
        with torch.no_grad(), trace:
            model(example)
    finally:
        for h in hooks:
            h.remove()

    def sources(t: torch.Tensor) -> set[int]:
        t = t._base if t._base is not None else t  # a chunk is a view of the tensor it was cut from
        if id(t) in trace.parents:
            return set().union(*(sources(p) for p in trace.parents[id(t)]))
        return {id(t)}

    parent = {name: name for name in reads}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    first_reader: dict[int, str] = {}
    for name, t in reads.items():
        for src in sources(t):
            if src in first_reader:
                parent[root(name)] = root(first_reader[src])
            else:
                first_reader[src] = name
    groups: dict[str, list[str]] = {}
    for name in reads:
        groups.setdefault(root(name), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def share_input_ranges(model: nn.Module, example: torch.Tensor) -> list[list[str]]:
    """Give each group of :func:`shared_range_groups` its widest calibrated range, in place; return the groups."""
    groups = shared_range_groups(model, example)
    modules = dict(model.named_modules())
    for group in groups:
        widest = max(float(modules[n].amax.max()) for n in group)
        for name in group:
            modules[name].amax = torch.full_like(modules[name].amax, widest)
    return groups
