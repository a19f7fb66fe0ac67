"""An FP16 copy of an FP32 ONNX model, for ONNX Runtime's CUDA provider (the GPU rows of benchmarks/speed.py).

Ultralytics exports FP16 ONNX only from a model on a GPU (``half=True``); converting the FP32 export instead
works on any machine and keeps one source of truth. The graph's input and output stay FP32, so that callers
feed the same arrays to both; ONNX Runtime's converter keeps the ops that need FP32 (e.g. Resize's scales,
shape arithmetic) in FP32 with casts around them.
"""

from __future__ import annotations

from pathlib import Path

from yolopress.io import atomic_file


def to_fp16(src: Path, dst: Path) -> Path:
    """Write ``src`` (FP32 ONNX) as FP16 weights and compute to ``dst``; FP32 input and output."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise ValueError(f"{src} is quantized (Q/DQ nodes): FP16 converts an FP32 export, e.g. export/native.onnx")
    if not any(t.data_type == onnx.TensorProto.FLOAT for t in model.graph.initializer):
        raise ValueError(f"{src} has no FP32 weights to convert (already FP16?): convert an FP32 export")
    half = convert_float_to_float16(model, keep_io_types=True)
    _sort_nodes(half.graph)
    onnx.checker.check_model(half)
    with atomic_file(Path(dst), "wb") as f:
        f.write(half.SerializeToString())
    return Path(dst)


def _sort_nodes(graph) -> None:
    """Order ``graph``'s nodes so that each comes after its inputs' producers.

    The converter appends the casts of the FP32 inputs at the end of the node list; ONNX Runtime copes, but
    the ONNX checker (and TensorRT's parser) require a topological order.
    """
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    ordered, pending = [], list(graph.node)
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError(f"the FP16 graph has nodes whose inputs nothing produces: {[n.name for n in rest][:5]}")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
