"""mAP of a deployed artifact on a dataset split, through the same runner that deployment uses."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from yolopress.bench.metrics import DetectionMetrics
from yolopress.data.dataset import DataSpec, label_path, read_labels, split_images
from yolopress.runtime.base import Runner
from yolopress.runtime.postprocess import nms, scale_boxes
from yolopress.runtime.preprocess import letterbox, to_tensor


def _labels_xyxy(img_path, h: int, w: int) -> np.ndarray:
    rows = read_labels(label_path(img_path))
    out = np.zeros((len(rows), 5), np.float32)
    if len(rows):
        out[:, 0] = rows[:, 0]
        out[:, 1] = (rows[:, 1] - rows[:, 3] / 2) * w
        out[:, 2] = (rows[:, 2] - rows[:, 4] / 2) * h
        out[:, 3] = (rows[:, 1] + rows[:, 3] / 2) * w
        out[:, 4] = (rows[:, 2] + rows[:, 4] / 2) * h
    return out


def evaluate(
    runner: Runner,
    data: DataSpec,
    split: str = "test",
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Run every image of ``split`` through ``runner`` and return mAP50-95, mAP50 and per-class AP."""
    metrics = DetectionMetrics(names=data.names)
    images = split_images(data, split)
    for start in range(0, len(images), runner.batch):
        chunk = images[start : start + runner.batch]
        originals = [cv2.imread(str(p)) for p in chunk]
        boxed = [letterbox(im, runner.imgsz) for im in originals]
        inputs = [b[0] for b in boxed]
        inputs += [np.zeros_like(inputs[0])] * (runner.batch - len(inputs))  # static batch: pad the last one
        raw = runner.infer(to_tensor(inputs))
        for k, (path, im) in enumerate(zip(chunk, originals, strict=True)):
            dets = scale_boxes(nms(raw[k], conf, iou, max_det, multi_label=True), boxed[k][1])
            metrics.update(dets, _labels_xyxy(path, *im.shape[:2]))
        if progress:
            progress(len(chunk))
    return metrics.compute()
