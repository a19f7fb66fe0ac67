"""Hard pseudo-labels: the teacher's confident detections on unlabeled pool images, as labels of the detection loss.

On the pool the soft terms (cls, ld, cwd) pull the student's scores, box distributions and features toward the
teacher's, but no assigner runs there: the student never gets the positive and negative anchors, the IoU loss or
the sharp targets that labels give. ``distill.pseudo_conf`` turns the teacher's detections on each pool image that
score at least that much (after NMS) into labels, so the student trains on the deployment images as on labeled
ones (the self-training of domain adaptation), with the soft terms kept beside.
"""

from __future__ import annotations

import torch
from torchvision.ops import batched_nms
from ultralytics.utils.ops import xyxy2xywh
from ultralytics.utils.tal import make_anchors

NMS_IOU = 0.7  # Ultralytics' validation default: a pseudo-label is a box that its val would count
MAX_PER_IMAGE = 300
MIN_SIDE_PX = 2.0  # thinner boxes carry no box-loss signal, only noise


def pseudo_labels(teacher: dict, det, conf: float) -> dict[str, torch.Tensor]:
    """Labels in Ultralytics' batch format (``batch_idx``, ``cls`` (N, 1), ``bboxes`` (N, 4) normalised xywh) from
    the teacher's raw head outputs ``teacher`` on B images (``scores`` (B, nc, A) logits, ``boxes``
    (B, 4·reg_max, A) DFL logits, ``feats``); ``det`` is the student's detection loss, whose strides and DFL
    decoding the teacher shares (the criterion checks that their outputs match)."""
    feats = teacher["feats"]
    anchors, strides = make_anchors(feats, det.stride, 0.5)
    h, w = (int(s * det.stride[0]) for s in feats[0].shape[2:])
    boxes = det.bbox_decode(anchors, teacher["boxes"].float().permute(0, 2, 1)) * strides  # (B, A, 4) xyxy px
    best, cls = teacher["scores"].float().sigmoid().max(1)  # (B, A) each
    size = boxes.new_tensor([w, h, w, h])
    idx, classes, out = [], [], []
    for i in range(boxes.shape[0]):
        keep = best[i] >= conf
        b = torch.minimum(boxes[i][keep].clamp(min=0), size)
        s, c = best[i][keep], cls[i][keep]
        sides = b[:, 2:] - b[:, :2]
        ok = (sides >= MIN_SIDE_PX).all(1)
        b, s, c = b[ok], s[ok], c[ok]
        kept = batched_nms(b, s, c, NMS_IOU)[:MAX_PER_IMAGE]
        idx.append(torch.full((len(kept),), i, dtype=torch.float32, device=b.device))
        classes.append(c[kept].float())
        out.append(xyxy2xywh(b[kept]) / size)
    return {
        "batch_idx": torch.cat(idx),
        "cls": torch.cat(classes).view(-1, 1),
        "bboxes": torch.cat(out).view(-1, 4),
    }
