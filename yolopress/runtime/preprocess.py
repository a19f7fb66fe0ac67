"""Image preprocessing that matches Ultralytics validation exactly.

Ultralytics resizes the long side to ``imgsz`` (INTER_AREA when shrinking, INTER_LINEAR when
growing), then pads to a square with grey 114, centred. Doing the same here is what makes a
deployed model's mAP comparable with ``yolo val``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Where an original image sits inside the network input: scale, then padding."""

    gain: float
    pad_x: int
    pad_y: int
    shape: tuple[int, int]  # original (h, w)


def letterbox(img: np.ndarray, imgsz: int) -> tuple[np.ndarray, Letterbox]:
    """BGR uint8 HxWx3 -> BGR uint8 imgsz x imgsz x 3, and how to map boxes back."""
    h0, w0 = img.shape[:2]
    r = imgsz / max(h0, w0)
    if r != 1:
        w, h = min(math.ceil(w0 * r), imgsz), min(math.ceil(h0 * r), imgsz)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
    h, w = img.shape[:2]
    dw, dh = (imgsz - w) / 2, (imgsz - h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if top or bottom or left or right:
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    gain = min(h / h0, w / w0)
    return img, Letterbox(gain=gain, pad_x=left, pad_y=top, shape=(h0, w0))


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 images -> float32 (B, 3, H, W) RGB in [0, 1]."""
    batch = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / 255.0
