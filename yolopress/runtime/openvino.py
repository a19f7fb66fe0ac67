"""OpenVINO runner (CPU plugin), tuned for latency."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from yolopress.runtime.base import Runner, UnsupportedBatch

# How the float operations of an INT8 IR run (its convolutions run in INT8 either way): ``f32`` (the default), or
# ``auto``, OpenVINO's own default for the CPU: bf16 where it computes bf16 natively (AMX, AVX-512 BF16), f32
# elsewhere. Measured on the demo's INT8 IR, 2-core Xeon with AMX (benchmarks/results/ov_int8_float.json): bf16 is
# 7% faster at 640 px (12.32 against 13.18 ms) with the same test mAP50-95, but follows the fake-quantized model
# 2.6x less closely (box p99 1.56 px against 0.60 at 128 px; scores up to 0.09 apart against 0.04): asked for.
# With the channel-local DFL head bf16 buys 2% there (10.53 against 10.72 ms, ov_int8_float_xeon_amx.json).
INT8_FLOAT_PRECISIONS = ("f32", "auto")


class OpenVINORunner(Runner):
    runtime = "openvino"

    def __init__(self, path, imgsz, batch=1, threads=None, int8_float: str = "f32") -> None:
        super().__init__(path, imgsz, batch, threads)
        import openvino as ov

        if int8_float not in INT8_FLOAT_PRECISIONS:
            raise ValueError(f"int8_float must be one of {INT8_FLOAT_PRECISIONS}, got {int8_float!r}")
        xml = self.path if self.path.suffix == ".xml" else next(Path(self.path).glob("*.xml"), None)
        if xml is None:
            raise FileNotFoundError(f"no OpenVINO .xml model in {self.path}")
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads}
        model = core.read_model(xml)
        self.quantized = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        if not self.quantized or int8_float == "f32":
            # an FP32 IR in f32 explicitly: on CPUs with bf16 units OpenVINO would otherwise run it in bf16
            config["INFERENCE_PRECISION_HINT"] = "f32"
        shape = [batch, 3, imgsz, imgsz]
        if model.inputs[0].get_partial_shape() != ov.PartialShape(shape):
            try:  # a shape-agnostic IR is fixed here (static shapes run fastest); a static one is changed if it can
                model.reshape({model.inputs[0]: shape})
            except RuntimeError as e:
                raise UnsupportedBatch(f"{xml} cannot be reshaped to batch {batch}: {_reshape_culprit(e)}") from None
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        # what the float operations ran in, as OpenVINO resolved it: "f32" or "bf16"
        self.float_precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.request.infer({0: x})[0].copy()  # copy: the request reuses its output buffer


def _reshape_culprit(error: RuntimeError) -> str:
    """One line for OpenVINO's multi-line shape-inference report: the layer whose shape is fixed."""
    node = re.search(r"While validating node '[^']*?([^' ]+)'", str(error))
    if node:
        return f"layer {node.group(1)} has its shape fixed in the IR"
    return str(error).strip().splitlines()[0][:200]
