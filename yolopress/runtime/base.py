"""The runner interface shared by every backend."""

from __future__ import annotations

import importlib
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

# runtime name -> "module:class"; imported lazily so a missing optional backend only fails when used
RUNNERS: dict[str, str] = {
    "torch": "yolopress.runtime.torch:TorchRunner",
    "onnxruntime": "yolopress.runtime.onnxruntime:OnnxRuntimeRunner",
    "openvino": "yolopress.runtime.openvino:OpenVINORunner",
    "tensorrt": "yolopress.runtime.tensorrt:TensorRTRunner",
}


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


def load_runner(path: Path, runtime: str, imgsz: int, batch: int = 1, threads: int | None = None, **options) -> Runner:
    """Load ``path`` with the named runtime; an unknown runtime names the ones available.

    ``options`` go to that runner only (e.g. ``cuda_graph=True`` for TensorRT).
    """
    if runtime not in RUNNERS:
        raise ValueError(f"unknown runtime {runtime!r}; available: {', '.join(RUNNERS)}")
    module, cls = RUNNERS[runtime].split(":")
    return getattr(importlib.import_module(module), cls)(path, imgsz=imgsz, batch=batch, threads=threads, **options)
