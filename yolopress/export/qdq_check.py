"""Checks a Q/DQ ONNX against TensorRT's explicit-quantization rules, before anyone spends an engine build on it.

TensorRT builds an INT8 engine from QuantizeLinear/DequantizeLinear pairs only when they follow
its rules (TensorRT developer guide, "Explicit Quantization"; ONNX-TensorRT operator notes):

- ``int8``: quantized tensors are signed INT8 (the zero-point's type); no UINT8, INT4 or FP8 here.
- ``zero-point``: symmetric quantization only: every zero-point is present and 0.
- ``constant``: scales and zero-points are initializers (or Constant outputs), not computed.
- ``scale``: scales are finite and positive.
- ``per-channel``: a per-channel scale only quantizes weights, along their output-channel axis
  (0 for Conv, 1 for ConvTranspose and MatMul); activations are per-tensor.
- ``pair``: every QuantizeLinear feeds DequantizeLinear nodes only.
- ``domain``: no custom-domain operators (plugins or ONNX Runtime contrib ops).
- ``opset``: per-channel Q/DQ needs opset 13 or newer; TensorRT 11's parser reads up to opset 25.

:func:`check_qdq` returns one :class:`Violation` per offending node, so a report names them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_OPSET = 13  # per-axis QuantizeLinear/DequantizeLinear
MAX_OPSET = 25  # the newest opset of TensorRT 11's ONNX parser (TensorRT ONNX opset guide)
_OUT_CHANNEL_AXIS = {"Conv": 0, "ConvTranspose": 1, "MatMul": 1, "Gemm": 1}


@dataclass(frozen=True)
class Violation:
    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.node}: {self.message}"


class QDQError(ValueError):
    """A Q/DQ ONNX that TensorRT would not build as an explicitly quantized INT8 engine."""

    def __init__(self, path: Path, violations: list[Violation]) -> None:
        self.violations = violations
        shown = "\n  ".join(str(v) for v in violations[:20])
        more = f"\n  ... and {len(violations) - 20} more" if len(violations) > 20 else ""
        super().__init__(
            f"{path} breaks {len(violations)} TensorRT explicit-quantization rule(s) "
            f"(docs/quantization.md lists them):\n  {shown}{more}"
        )


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _weight_source(name: str, producers: dict, constants: dict) -> bool:
    """Whether tensor ``name`` is a constant, possibly through Identity/Cast (how weights reach a Q node)."""
    while name not in constants:
        node = producers.get(name)
        if node is None or node.op_type not in ("Identity", "Cast"):
            return False
        name = node.input[0]
    return True


def check_qdq(model_or_path) -> list[Violation]:
    """Every TensorRT explicit-quantization rule a Q/DQ ONNX breaks (empty when it passes)."""
    import onnx

    model = onnx.load(str(model_or_path)) if isinstance(model_or_path, str | Path) else model_or_path
    graph = model.graph
    out: list[Violation] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        out.append(Violation("opset", "model", f"opset {opset}; TensorRT's Q/DQ needs {MIN_OPSET}..{MAX_OPSET}"))
    constants = _constants(graph)
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    qdq = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        out.append(Violation("int8", "model", "no QuantizeLinear/DequantizeLinear nodes: this is not a Q/DQ model"))
    for n in graph.node:
        if n.domain not in ("", "ai.onnx"):
            out.append(Violation("domain", n.name or n.op_type, f"{n.op_type} is in custom domain {n.domain!r}"))
    for n in qdq:
        name = n.name or f"{n.op_type}({n.input[0]})"
        scale_name = n.input[1] if len(n.input) > 1 else ""
        zp_name = n.input[2] if len(n.input) > 2 else ""
        if scale_name not in constants or (zp_name and zp_name not in constants):
            out.append(Violation("constant", name, "scale and zero-point must be initializers"))
            continue
        scale = constants[scale_name]
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            out.append(Violation("scale", name, f"scale must be finite and > 0, got min {float(np.min(scale)):.3g}"))
        if not zp_name:
            out.append(Violation("int8", name, "no zero-point: ONNX then means UINT8; give an INT8 zero-point of 0"))
        else:
            zp = constants[zp_name]
            if zp.dtype != np.int8:
                out.append(Violation("int8", name, f"quantized type is {zp.dtype}, TensorRT needs int8"))
            if np.any(zp != 0):
                out.append(Violation("zero-point", name, f"zero-point must be 0 (symmetric), got {np.unique(zp)[:4]}"))
        if scale.size > 1:
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            if n.op_type == "QuantizeLinear" and not _weight_source(n.input[0], producers, constants):
                out.append(Violation("per-channel", name, "activations must be quantized per tensor"))
            elif n.op_type == "DequantizeLinear":
                for c in consumers.get(n.output[0], []):
                    want = _OUT_CHANNEL_AXIS.get(c.op_type)
                    if want is not None and c.input[1:2] == [n.output[0]] and axis != want:
                        out.append(
                            Violation(
                                "per-channel", name, f"weight of {c.op_type} {c.name!r} on axis {axis}, not {want}"
                            )
                        )
        if n.op_type == "QuantizeLinear":
            bad = [c.op_type for c in consumers.get(n.output[0], []) if c.op_type != "DequantizeLinear"]
            if bad:
                out.append(Violation("pair", name, f"feeds {', '.join(sorted(set(bad)))}; only DequantizeLinear"))
    return out


def require_qdq(path: Path) -> int:
    """Raise :class:`QDQError` naming every violation; return the number of Q/DQ pairs when the model passes."""
    import onnx

    model = onnx.load(str(path))
    violations = check_qdq(model)
    if violations:
        raise QDQError(Path(path), violations)
    return sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
