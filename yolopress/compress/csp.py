"""C2f, C3k2 and C2PSA blocks with their first convolution cut in two, one convolution per half of its output.

Each of these blocks runs ``cv1`` and splits its output in two halves (``chunk`` or ``split``). Two
convolutions, one per half, compute the same function without the split, which serves twice:

- pruning (:mod:`yolopress.compress.prune`): torch-pruning maps indices through a split that feeds a
  concatenation wrongly, so the blocks are halved while the graph is pruned, then merged back
  (:func:`halve_csp_blocks`, :func:`restore_csp_blocks`);
- the OpenVINO INT8 IR (:func:`split_for_int8`): there the split sits between INT8 convolutions and
  OpenVINO's CPU plugin copies both halves out of the quantized tensor; without it the IR of the demo's
  −31% student ran 5% faster at 640 px (10.35 ms against 10.91 ms, Intel Xeon with AMX, 2 threads;
  benchmarks/results/int8_prune_speed.json), with the same outputs. The fake-quantized checkpoint keeps
  the original blocks; only the export is split.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


def _csp_types() -> tuple[type, type]:
    from ultralytics.nn.modules.block import C2PSA, C2f

    return C2f, C2PSA  # C3k2 and C2fPSA are C2f subclasses


class _HalvedCSP(nn.Module):
    """A C2f/C3k2/C2PSA block whose first convolution is two convolutions, one per half; the same function.

    It shares ``m`` and ``cv2`` with the original block, so pruning it prunes the original's modules in place.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.a, self.b = _split_conv(block.cv1, block.c)
        self.m, self.cv2 = block.m, block.cv2
        self.psa = isinstance(block, _csp_types()[1])
        self.original = [block]  # a list, so the original is not a registered submodule
        for attr in ("f", "i", "type", "np"):  # Ultralytics' routing attributes on top-level layers
            if hasattr(block, attr):
                setattr(self, attr, getattr(block, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.a(x), self.b(x)
        if self.psa:
            return self.cv2(torch.cat((a, self.m(b)), 1))
        y = [a, b]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))

    def restore(self) -> nn.Module:
        """The original block class with the pruned modules, its first convolution merged back."""
        block = self.original[0]
        if self.a.conv.out_channels != self.b.conv.out_channels:  # the block's code splits in two equal halves
            raise RuntimeError(f"halves of {type(block).__name__} pruned unequally: {self.a.conv} vs {self.b.conv}")
        block.cv1 = _merge_convs(self.a, self.b)
        block.m, block.cv2 = self.m, self.cv2
        block.c = self.a.conv.out_channels
        return block


def _split_conv(conv: nn.Module, c: int) -> tuple[nn.Module, nn.Module]:
    """Two copies of an Ultralytics ``Conv`` holding output channels [:c] and [c:]: with its BatchNorm, or folded
    (a bias instead), and fake-quantized (ModelOpt: per-output-channel weight ranges sliced along)."""
    halves = []
    for sl in (slice(0, c), slice(c, None)):
        half = copy.deepcopy(conv)
        half.act = conv.act  # Ultralytics shares one activation module between all Convs
        half.conv.weight = _sliced(conv.conv.weight, sl)
        if conv.conv.bias is not None:
            half.conv.bias = _sliced(conv.conv.bias, sl)
        half.conv.out_channels = half.conv.weight.shape[0]
        if hasattr(conv, "bn"):
            _slice_bn(half.bn, conv.bn, sl)
        quantizer = getattr(half.conv, "weight_quantizer", None)
        amax = getattr(quantizer, "amax", None) if quantizer is not None else None
        if amax is not None and amax.numel() > 1:  # per channel; ModelOpt refuses to change a range's shape
            del quantizer._amax
            quantizer.register_buffer("_amax", amax[sl].clone())
        halves.append(half)
    return halves[0], halves[1]


def _sliced(param: nn.Parameter, sl: slice) -> nn.Parameter:
    """A slice of a parameter, with the same slice of its gradient (the Taylor criterion reads it)."""
    out = nn.Parameter(param.data[sl].clone(), requires_grad=param.requires_grad)
    if param.grad is not None:
        out.grad = param.grad[sl].clone()
    return out


def _slice_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, sl: slice) -> None:
    dst.weight = _sliced(src.weight, sl)
    dst.bias = _sliced(src.bias, sl)
    dst.running_mean = src.running_mean[sl].clone()
    dst.running_var = src.running_var[sl].clone()
    dst.num_features = dst.weight.shape[0]


def _merge_convs(a: nn.Module, b: nn.Module) -> nn.Module:
    merged = copy.deepcopy(a)
    merged.act = a.act
    merged.conv.weight = nn.Parameter(torch.cat([a.conv.weight.data, b.conv.weight.data]))
    merged.conv.out_channels = merged.conv.weight.shape[0]
    for name in ("weight", "bias"):
        setattr(merged.bn, name, nn.Parameter(torch.cat([getattr(a.bn, name).data, getattr(b.bn, name).data])))
    merged.bn.running_mean = torch.cat([a.bn.running_mean, b.bn.running_mean])
    merged.bn.running_var = torch.cat([a.bn.running_var, b.bn.running_var])
    merged.bn.num_features = merged.conv.out_channels
    return merged


def _replace(model: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule for which ``match`` holds by ``make(submodule)``; returns how many."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if match(child):
                setattr(parent, name, make(child))
                count += 1
    return count


def halve_csp_blocks(model: nn.Module) -> int:
    return _replace(model, lambda m: isinstance(m, _csp_types()) and not isinstance(m, _HalvedCSP), _HalvedCSP)


def restore_csp_blocks(model: nn.Module) -> int:
    return _replace(model, lambda m: isinstance(m, _HalvedCSP), lambda m: m.restore())


def split_for_int8(model: nn.Module) -> int:
    """Halve every CSP block of a (fake-quantized, BatchNorm-folded) model for export, for good; returns how many.

    The two halves keep the block's input range and their slices of its per-channel weight ranges, so the
    quantized function is unchanged. Meant for a model about to be exported, not saved: the originals are let go.
    """
    count = halve_csp_blocks(model)
    for block in model.modules():
        if isinstance(block, _HalvedCSP):
            block.original = []
    return count
