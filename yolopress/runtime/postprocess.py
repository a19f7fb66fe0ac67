"""Decode raw detections and run NMS in NumPy, with the semantics of Ultralytics validation.

Kept free of torch so that it runs wherever the deployed model does (a Jetson bundle, a
TensorRT or OpenVINO service).
"""

from __future__ import annotations

import numpy as np

from yolopress.runtime.preprocess import Letterbox

_MAX_WH = 7680  # class offset for batched NMS, as in Ultralytics
_MAX_NMS = 30000  # candidates kept before NMS


def xywh2xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b)
    out[:, :2] = b[:, :2] - b[:, 2:4] / 2
    out[:, 2:4] = b[:, :2] + b[:, 2:4] / 2
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4), shape (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-7)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first; stops once ``limit`` are kept."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[i : i + 1], boxes[rest])[0] <= iou]
    return np.asarray(keep, dtype=np.int64)


def nms(
    pred: np.ndarray,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    multi_label: bool = False,
    agnostic: bool = False,
) -> np.ndarray:
    """One image's raw output (4 + nc, anchors) -> detections (n, 6): x1, y1, x2, y2, score, class.

    ``multi_label=True`` lets one box carry several classes, as Ultralytics does for mAP.
    """
    pred = pred.T  # (anchors, 4 + nc)
    cls_scores = pred[:, 4:]
    cand = cls_scores.max(1) > conf
    boxes, cls_scores = xywh2xyxy(pred[cand, :4]), cls_scores[cand]
    if multi_label:
        i, j = np.nonzero(cls_scores > conf)
        boxes, scores, classes = boxes[i], cls_scores[i, j], j
    else:
        classes = cls_scores.argmax(1)
        scores = cls_scores[np.arange(len(classes)), classes]
        keep = scores > conf
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    if len(scores) > _MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:_MAX_NMS]
        boxes, scores, classes = boxes[top], scores[top], classes[top]
    offset = 0 if agnostic else classes[:, None].astype(np.float32) * _MAX_WH
    keep = greedy_nms(boxes + offset, scores, iou, max_det)
    return np.concatenate([boxes[keep], scores[keep, None], classes[keep, None].astype(np.float32)], 1)


def scale_boxes(dets: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Map detections from network-input pixels back to the original image, clipped to it."""
    out = dets.copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - lb.pad_x) / lb.gain).clip(0, lb.shape[1])
    out[:, [1, 3]] = ((out[:, [1, 3]] - lb.pad_y) / lb.gain).clip(0, lb.shape[0])
    return out
