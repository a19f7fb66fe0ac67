"""Quantize each tensor of a Q/DQ ONNX once, where it is made: the same function, fewer float kernels on CPU.

The exporter writes a QuantizeLinear/DequantizeLinear pair in front of every quantized convolution. Where
a convolution reads a concatenation (a C3k2 block's ``cv2``, the neck blocks), the pair sits after the
concatenation; OpenVINO's CPU plugin moves it onto the concatenation's inputs by itself, but only after
it has merged identical pairs, so an input that another convolution also reads ends up quantized twice,
by two separate kernels, and the convolution that makes it writes float. Measured on the demo's −31% YOLO11n
at 640 px (Intel Xeon with AMX, 2 threads): 44 such kernels, about 1 ms of 11.

:func:`hoist_qdq` rewrites the ONNX before OpenVINO reads it:

1. drops float-to-float ``Cast`` nodes between an activation and its readers (the exporter leaves them,
   and they hide that two pairs read the same tensor);
2. moves each pair that follows a ``Concat``, a nearest-neighbour ``Resize`` or a ``MaxPool`` onto that
   operation's inputs. A per-tensor quantizer acts on each value alone and is monotonic, so it commutes with
   all three: the outputs are unchanged, bit for bit;
3. merges the pairs that read one tensor with the same scale and zero-point into one.

Step 3 finds pairs to merge where the quantizers that read one tensor share their range, which the qat
stage gives them (:mod:`yolopress.compress.ranges`). Then each such tensor has one quantizer, which the
plugin fuses into the convolution that makes it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

# ops that leave each output value equal to one of their inputs' values, so a per-tensor quantizer commutes with them
_HOISTABLE = ("Concat", "Resize", "MaxPool")
# ops whose outputs are float in a float model: a Cast to float after one of them does nothing
_FLOAT_MAKERS = ("Conv", "Mul", "Add", "Sigmoid", "Concat", "Resize", "MaxPool", "DequantizeLinear")


class _Graph:
    def __init__(self, graph) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.nodes = list(graph.node)
        self.const: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for n in self.nodes:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.outputs = {o.name for o in graph.output}

    def producer(self, tensor: str):
        return next((n for n in self.nodes if tensor in n.output), None)

    def readers(self, tensor: str) -> list:
        return [n for n in self.nodes if tensor in n.input]

    def rewire(self, old: str, new: str) -> None:
        for n in self.nodes:
            for k, name in enumerate(n.input):
                if name == old:
                    n.input[k] = new

    def remove(self, *nodes) -> None:
        for n in nodes:
            self.nodes.remove(n)

    def quant_params(self, q) -> tuple | None:
        """A per-tensor QuantizeLinear's (scale, zero-point) as bytes, or None where it is per-channel or unknown."""
        try:
            scale = self.const[q.input[1]]
            zero = self.const[q.input[2]] if len(q.input) > 2 else np.zeros((), np.uint8)
        except KeyError:
            return None
        if scale.size != 1 or zero.size != 1:
            return None
        return scale.tobytes(), zero.tobytes(), zero.dtype.str

    def save(self) -> None:
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)


def _attr(node, name: str, default):
    from onnx import helper

    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _pair(g: _Graph, q):
    """The DequantizeLinear that alone reads QuantizeLinear ``q``, or None."""
    readers = g.readers(q.output[0])
    return readers[0] if len(readers) == 1 and readers[0].op_type == "DequantizeLinear" else None


def _drop_float_casts(g: _Graph) -> int:
    from onnx import TensorProto

    dropped = 0
    for n in [n for n in g.nodes if n.op_type == "Cast" and _attr(n, "to", None) == TensorProto.FLOAT]:
        src = g.producer(n.input[0])
        if src is None or src.op_type not in _FLOAT_MAKERS or n.output[0] in g.outputs:
            continue
        g.remove(n)
        g.rewire(n.output[0], n.input[0])
        dropped += 1
    return dropped


def _hoistable(g: _Graph, op) -> list[str] | None:
    """The inputs a quantizer after ``op`` can move onto, or None where it cannot move."""
    if op is None or op.op_type not in _HOISTABLE:
        return None
    if op.op_type == "Resize":
        return [op.input[0]] if _attr(op, "mode", b"nearest") in (b"nearest", "nearest") else None
    return list(op.input) if op.op_type == "Concat" else [op.input[0]]


def _hoist(g: _Graph) -> int:
    from onnx import helper

    moved, done = 0, set()
    while True:
        todo = [
            q
            for q in g.nodes
            if q.op_type == "QuantizeLinear" and q.name not in done and g.quant_params(q) and _pair(g, q) is not None
        ]
        todo = [q for q in todo if _hoistable(g, g.producer(q.input[0])) is not None]
        if not todo:
            return moved
        for q in todo:
            done.add(q.name)
            op = g.producer(q.input[0])
            params = list(q.input[1:])
            at = g.nodes.index(op)
            for k, src in enumerate(_hoistable(g, op)):
                stem = f"{q.name}/hoisted_{k}"
                qn = helper.make_node("QuantizeLinear", [src, *params], [f"{stem}/q"], name=f"{stem}/QuantizeLinear")
                dq = helper.make_node("DequantizeLinear", [qn.output[0], *params], [f"{stem}/dq"], name=f"{stem}/DQ")
                g.nodes[at:at] = [qn, dq]
                at += 2
                op.input[k if op.op_type == "Concat" else 0] = dq.output[0]
            # the pair after op now requantizes values already on its grid: it goes where op has no other reader
            if len(g.readers(op.output[0])) == 1 and op.output[0] not in g.outputs:
                dq = _pair(g, q)
                g.remove(q, dq)
                g.rewire(dq.output[0], op.output[0])
            moved += 1


def _merge(g: _Graph) -> int:
    by_tensor: dict[str, list] = defaultdict(list)
    for q in g.nodes:
        if q.op_type == "QuantizeLinear":
            by_tensor[q.input[0]].append(q)
    merged = 0
    for qs in by_tensor.values():
        kept: dict[tuple, str] = {}
        for q in qs:
            params, dq = g.quant_params(q), _pair(g, q)
            if params is None or dq is None or dq.output[0] in g.outputs:
                continue
            if params in kept:
                g.remove(q, dq)
                g.rewire(dq.output[0], kept[params])
                merged += 1
            else:
                kept[params] = dq.output[0]
    return merged


def hoist_qdq(path: Path) -> dict:
    """Rewrite the Q/DQ ONNX at ``path`` in place (see the module); return what changed."""
    import onnx

    model = onnx.load(str(path))
    g = _Graph(model.graph)
    record = {"casts_dropped": _drop_float_casts(g), "hoisted": _hoist(g), "merged": _merge(g)}
    g.save()
    onnx.save(model, str(path))
    return record
