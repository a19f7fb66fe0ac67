"""The runner interface shared by every backend."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


class Runner(ABC):
    """Runs one model on one backend.

    ``infer`` takes a float32 batch (B, 3, H, W) of RGB values in [0, 1] and returns the raw
    detection tensor (B, 4 + nc, anchors): boxes as centre-x, centre-y, width, height in input
    pixels, then one sigmoid score per class, the layout of an Ultralytics detection export.
    """

    runtime: str = ""

    def __init__(self, path: Path, imgsz: int, batch: int = 1, threads: int | None = None) -> None:
        self.path = Path(path)
        self.imgsz = imgsz
        self.batch = batch
        self.threads = threads or os.cpu_count() or 1

    @abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray: ...

    @property
    def device(self) -> str:
        return "cpu"

    def time_infer(self, x: np.ndarray) -> float:
        """One inference, timed in milliseconds with this backend's right clock (wall clock on CPU)."""
        t0 = time.perf_counter()
        self.infer(x)
        self.synchronize()
        return (time.perf_counter() - t0) * 1000.0

    def synchronize(self) -> None:
        """Wait for queued work (GPU runners); CPU runners return when ``infer`` does."""

    def close(self) -> None:
        """Free the backend's resources."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class UnsupportedBatch(ValueError):
    """The artifact has a fixed batch size other than the one asked for."""
