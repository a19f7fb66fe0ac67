"""Detection mAP in NumPy, computed the way Ultralytics (and COCO) do.

Predictions are matched to labels greedily in descending confidence at each IoU threshold
0.50:0.05:0.95, and AP is the 101-point interpolated area under the precision envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from yolopress.runtime.postprocess import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
# NumPy 2 renamed trapz to trapezoid; Jetson bundles also run on JetPack 6's NumPy 1.21
_trapezoid = getattr(np, "trapezoid", None) or np.trapz
_RECALL_POINTS = np.linspace(0, 1, 101)


def match(dets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Which detections are true positives at each IoU threshold: bool (n_dets, 10).

    ``dets`` (n, 6: xyxy, score, class) sorted by descending score; ``labels`` (m, 5: class, xyxy).
    """
    correct = np.zeros((len(dets), len(IOU_THRESHOLDS)), dtype=bool)
    if not len(dets) or not len(labels):
        return correct
    iou = box_iou(labels[:, 1:], dets[:, :4]) * (labels[:, :1] == dets[None, :, 5])
    claimed = np.zeros((len(labels), len(IOU_THRESHOLDS)), dtype=bool)
    cols = np.arange(len(IOU_THRESHOLDS))
    for j in np.flatnonzero((iou >= IOU_THRESHOLDS[0]).any(0)):
        available = np.where(claimed, 0.0, iou[:, j, None])
        best = available.argmax(0)
        correct[j] = available[best, cols] >= IOU_THRESHOLDS
        claimed[best, cols] |= correct[j]
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(_trapezoid(np.interp(_RECALL_POINTS, mrec, mpre), _RECALL_POINTS))


@dataclass
class DetectionMetrics:
    """Accumulates matches over a split, then reports mAP50-95, mAP50 and per-class AP."""

    names: dict[int, str]
    _tp: list[np.ndarray] = field(default_factory=list)
    _conf: list[np.ndarray] = field(default_factory=list)
    _pred_cls: list[np.ndarray] = field(default_factory=list)
    _target_cls: list[np.ndarray] = field(default_factory=list)

    def update(self, dets: np.ndarray, labels: np.ndarray) -> None:
        dets = dets[np.argsort(-dets[:, 4], kind="stable")] if len(dets) else dets.reshape(0, 6)
        self._tp.append(match(dets, labels))
        self._conf.append(dets[:, 4])
        self._pred_cls.append(dets[:, 5])
        self._target_cls.append(labels[:, 0] if len(labels) else np.zeros(0))

    def compute(self) -> dict:
        tp = np.concatenate(self._tp) if self._tp else np.zeros((0, 10), bool)
        conf = np.concatenate(self._conf) if self._conf else np.zeros(0)
        pred_cls = np.concatenate(self._pred_cls) if self._pred_cls else np.zeros(0)
        target_cls = np.concatenate(self._target_cls) if self._target_cls else np.zeros(0)
        order = np.argsort(-conf, kind="stable")
        tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
        classes, counts = np.unique(target_cls, return_counts=True)
        ap = np.zeros((len(classes), len(IOU_THRESHOLDS)))
        for ci, (c, n_labels) in enumerate(zip(classes, counts, strict=True)):
            mask = pred_cls == c
            if not mask.any():
                continue
            tpc = tp[mask].cumsum(0)
            fpc = (1 - tp[mask]).cumsum(0)
            recall = tpc / (n_labels + 1e-16)
            precision = tpc / (tpc + fpc)
            for t in range(len(IOU_THRESHOLDS)):
                ap[ci, t] = average_precision(recall[:, t], precision[:, t])
        per_class = {self.names.get(int(c), str(int(c))): float(ap[i].mean()) for i, c in enumerate(classes)}
        return {
            "map50_95": float(ap.mean()) if len(ap) else 0.0,
            "map50": float(ap[:, 0].mean()) if len(ap) else 0.0,
            "ap50_95_per_class": per_class,
            "images": len(self._tp),
            "instances": int(len(target_cls)),
        }
