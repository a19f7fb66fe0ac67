"""One runner per backend, all with the same interface (:class:`Runner`): load once, then ``infer`` batches.

Bench, accuracy and deployment code only ever see :class:`Runner`; adding a backend means
adding a module here and a line in :data:`RUNNERS`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from yolopress.runtime.base import Runner, UnsupportedBatch

# runtime name -> "module:class"; imported lazily so a missing optional backend only fails when used
RUNNERS: dict[str, str] = {
    "torch": "yolopress.runtime.torch:TorchRunner",
    "onnxruntime": "yolopress.runtime.onnxruntime:OnnxRuntimeRunner",
    "openvino": "yolopress.runtime.openvino:OpenVINORunner",
    "tensorrt": "yolopress.runtime.tensorrt:TensorRTRunner",
}


def load_runner(path: Path, runtime: str, imgsz: int, batch: int = 1, threads: int | None = None, **options) -> Runner:
    """Load ``path`` with the named runtime; an unknown runtime names the ones available.

    ``options`` go to that runner only (e.g. ``cuda_graph=True`` for TensorRT).
    """
    if runtime not in RUNNERS:
        raise ValueError(f"unknown runtime {runtime!r}; available: {', '.join(RUNNERS)}")
    module, cls = RUNNERS[runtime].split(":")
    return getattr(importlib.import_module(module), cls)(path, imgsz=imgsz, batch=batch, threads=threads, **options)


__all__ = ["RUNNERS", "Runner", "UnsupportedBatch", "load_runner"]
