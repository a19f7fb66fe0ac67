"""The Detect head's box decoding (DFL) computed channel-local, for export: the same boxes, faster on CPU.

Ultralytics' DFL reshapes the box maps of all levels, concatenated, from (b, 4·reg_max, anchors) to
(b, 4, reg_max, anchors), transposes, takes a softmax over the bins and a 1x1 convolution with the bin
indices. On a CPU runtime that means a layout reorder of every box map into the reshape (OpenVINO keeps
convolution outputs channel-blocked), a transpose and a softmax across a strided axis: at 640 px the P3
level's reorder alone took 0.43 ms of a 9.8 ms INT8 call (OpenVINO's per-layer counters, the demo's −31%
student, Intel Xeon with AMX, 2 threads).

Here each level is decoded where it is, in its (b, 4·reg_max, h, w) map: ``exp(t - max)`` and two grouped
1x1 convolutions (the bin indices, and ones) give the softmax's expected value per side as numerator over
denominator. No reshape touches the 64-channel maps; only the 4-channel distances are flattened and
concatenated. It is the same function up to float rounding (the max is taken over all 4·reg_max channels
instead of per side, which the softmax does not see), so the checkpoint and its training are untouched:
only what is exported changes (:func:`fast_dfl`).

Measured with ``benchmarks/speed.py`` (docs/benchmarking.md).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def channel_dfl(t: torch.Tensor, reg_max: int) -> torch.Tensor:
    """(b, 4·reg_max, h, w) box logits → (b, 4, h·w) expected distances: a softmax over each side's bins."""
    bins = torch.arange(reg_max, dtype=t.dtype, device=t.device).view(1, reg_max, 1, 1).repeat(4, 1, 1, 1)
    # one max over all 4·reg_max channels, not one per side, keeps the 64-channel map unsliced; exp(t - max) cannot
    # overflow, and a side underflows only where its best bin sits ~87 below another side's (float32's exp): in the
    # demo's trained heads the sides' best bins differ by 7.0 at most (teacher, students, pruned; test images)
    e = torch.exp(t - t.amax(dim=1, keepdim=True))
    num = F.conv2d(e, bins, groups=4)
    den = F.conv2d(e, torch.ones_like(bins), groups=4)
    return (num / den.clamp_min(torch.finfo(t.dtype).tiny)).flatten(2)


@functools.cache
def _fast_dfl_class() -> type:
    from ultralytics.nn.modules.head import Detect
    from ultralytics.utils.tal import make_anchors

    class ChannelDFLDetect(Detect):
        """Detect whose inference decodes each level's boxes channel-local (:func:`channel_dfl`)."""

        def forward_head(self, x, box_head=None, cls_head=None):
            if self.training or box_head is None or cls_head is None:
                return super().forward_head(x, box_head, cls_head)
            bs = x[0].shape[0]
            dist = torch.cat([channel_dfl(box_head[i](x[i]), self.reg_max) for i in range(self.nl)], dim=-1)
            scores = torch.cat([cls_head[i](x[i]).view(bs, self.nc, -1) for i in range(self.nl)], dim=-1)
            return {"boxes": dist, "scores": scores, "feats": x, "decoded": True}

        def _get_decode_boxes(self, x):
            if not x.get("decoded"):
                return super()._get_decode_boxes(x)
            shape = x["feats"][0].shape
            if self.dynamic or self.shape != shape:  # Ultralytics' anchor cache, as in Detect
                self.anchors, self.strides = (a.transpose(0, 1) for a in make_anchors(x["feats"], self.stride, 0.5))
                self.shape = shape
            return self.decode_bboxes(x["boxes"], self.anchors.unsqueeze(0), x.get("angle")) * self.strides

    return ChannelDFLDetect


def fast_dfl(model: nn.Module) -> bool:
    """Switch an Ultralytics detection model's head to channel-local DFL in place; returns whether it did.

    Only a plain ``Detect`` head with bins (``reg_max > 1``) and a float DFL convolution is switched: the
    Segment/Pose/OBB heads decode more than boxes, and a fake-quantized DFL convolution (``qat.quantize_dfl``)
    is part of what the INT8 model was trained as. Meant for a model about to be exported.
    """
    from ultralytics.nn.modules.head import Detect

    head = model.model[-1]
    if type(head) is not Detect or head.reg_max <= 1 or not isinstance(head.dfl.conv, nn.Conv2d):
        return False
    quantizers = (getattr(head.dfl.conv, n, None) for n in ("input_quantizer", "weight_quantizer"))
    if any(getattr(q, "is_enabled", False) for q in quantizers):  # ModelOpt leaves disabled ones in place
        return False
    head.__class__ = _fast_dfl_class()
    return True
