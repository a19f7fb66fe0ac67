"""ONNX Runtime runner (CPU execution provider)."""

from __future__ import annotations

import numpy as np

from yolopress.runtime.base import Runner, UnsupportedBatch


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, path, imgsz, batch=1, threads=None) -> None:
        super().__init__(path, imgsz, batch, threads)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A shape-agnostic export (Ultralytics' dynamic axes) is fixed to this batch and size, so ONNX Runtime
        # plans it like a static one; names the model does not have are ignored
        for name, value in (("batch", batch), ("height", imgsz), ("width", imgsz)):
            opts.add_free_dimension_override_by_name(name, value)
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
        if fixed is not None and fixed != batch:
            raise UnsupportedBatch(f"{self.path} has a fixed batch of {fixed}; export with a dynamic batch for {batch}")

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]
