"""mAP of a deployed artifact on a dataset split, through the same runner that deployment uses.

:func:`evaluate_samples` needs only NumPy and OpenCV (it also runs in a Jetson bundle, on the
sample of the test split the bundle carries); :func:`evaluate` feeds it a split of a dataset YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from yolopress.bench.metrics import DetectionMetrics
from yolopress.runtime.base import Runner
from yolopress.runtime.postprocess import nms, scale_boxes
from yolopress.runtime.preprocess import letterbox, to_tensor


def labels_xyxy(img_path: Path, h: int, w: int) -> np.ndarray:
    """An image's YOLO label file as (n, 5): class, then the box in pixels (x1, y1, x2, y2)."""
    from yolopress.data.dataset import label_path, read_labels

    rows = read_labels(label_path(img_path))
    out = np.zeros((len(rows), 5), np.float32)
    if len(rows):
        out[:, 0] = rows[:, 0]
        out[:, 1] = (rows[:, 1] - rows[:, 3] / 2) * w
        out[:, 2] = (rows[:, 2] - rows[:, 4] / 2) * h
        out[:, 3] = (rows[:, 1] + rows[:, 3] / 2) * w
        out[:, 4] = (rows[:, 2] + rows[:, 4] / 2) * h
    return out


def evaluate_samples(
    runner: Runner,
    samples: Sequence[tuple[Path, np.ndarray | None]],
    names: dict[int, str],
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """mAP50-95, mAP50 and per-class AP of ``runner`` on (image, labels) pairs.

    Labels are (n, 5) class + pixel xyxy, or None to read the image's YOLO label file.
    """
    metrics = DetectionMetrics(names=names)
    for start in range(0, len(samples), runner.batch):
        chunk = samples[start : start + runner.batch]
        originals = [cv2.imread(str(p)) for p, _ in chunk]
        for (p, _), im in zip(chunk, originals, strict=True):
            if im is None:
                raise FileNotFoundError(f"cannot read image {p}")
        boxed = [letterbox(im, runner.imgsz) for im in originals]
        inputs = [b[0] for b in boxed]
        inputs += [np.zeros_like(inputs[0])] * (runner.batch - len(inputs))  # static batch: pad the last one
        raw = runner.infer(to_tensor(inputs))
        for k, ((path, labels), im) in enumerate(zip(chunk, originals, strict=True)):
            dets = scale_boxes(nms(raw[k], conf, iou, max_det, multi_label=True), boxed[k][1])
            metrics.update(dets, labels if labels is not None else labels_xyxy(path, *im.shape[:2]))
        if progress:
            progress(len(chunk))
    return metrics.compute()


def evaluate(
    runner: Runner,
    data,
    split: str = "test",
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Run every image of ``split`` of ``data`` (a DataSpec) through ``runner``: mAP50-95, mAP50, per-class AP."""
    from yolopress.data.dataset import split_images

    samples = [(p, None) for p in split_images(data, split)]
    return evaluate_samples(runner, samples, data.names, conf, iou, max_det, progress)
