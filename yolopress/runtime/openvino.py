"""OpenVINO runner (CPU plugin), tuned for latency."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from yolopress.runtime.base import Runner, UnsupportedBatch


class OpenVINORunner(Runner):
    runtime = "openvino"

    def __init__(self, path, imgsz, batch=1, threads=None) -> None:
        super().__init__(path, imgsz, batch, threads)
        import openvino as ov

        xml = self.path if self.path.suffix == ".xml" else next(Path(self.path).glob("*.xml"), None)
        if xml is None:
            raise FileNotFoundError(f"no OpenVINO .xml model in {self.path}")
        core = ov.Core()
        # f32 explicitly: on CPUs with bf16 units OpenVINO would otherwise silently run FP32 models in bf16
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        model = core.read_model(xml)
        shape = [batch, 3, imgsz, imgsz]
        if model.inputs[0].get_partial_shape() != ov.PartialShape(shape):
            try:  # a shape-agnostic IR is fixed here (static shapes run fastest); a static one is changed if it can
                model.reshape({model.inputs[0]: shape})
            except RuntimeError as e:
                raise UnsupportedBatch(f"{xml} cannot be reshaped to batch {batch}: {_reshape_culprit(e)}") from None
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.request.infer({0: x})[0].copy()  # copy: the request reuses its output buffer


def _reshape_culprit(error: RuntimeError) -> str:
    """One line for OpenVINO's multi-line shape-inference report: the layer whose shape is fixed."""
    node = re.search(r"While validating node '[^']*?([^' ]+)'", str(error))
    if node:
        return f"layer {node.group(1)} has its shape fixed in the IR"
    return str(error).strip().splitlines()[0][:200]
