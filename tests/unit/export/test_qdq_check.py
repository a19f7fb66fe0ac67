"""The TensorRT explicit-quantization checker: silent on a real Q/DQ export, names each planted violation."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from yolopress.export.qdq_check import QDQError, check_qdq, require_qdq


@pytest.fixture(scope="module")
def qdq_onnx(tmp_path_factory):
    """A tiny YOLO11n, calibrated on random images, exported the way the qat stage exports it."""
    from yolopress._ultralytics import YOLO
    from yolopress.compress.qat import prepare, quiet_modelopt
    from yolopress.export.int8 import export_qdq_onnx

    d = tmp_path_factory.mktemp("qdq")
    with quiet_modelopt():
        yolo = YOLO("yolo11n.yaml")
        yolo.model = prepare(yolo.model, [torch.rand(2, 3, 64, 64)])
        yolo.save(str(d / "q.pt"))
        path, exported = export_qdq_onnx(d / "q.pt", d / "export", 64)
    assert exported["qdq_pairs"] > 80  # every convolution's input and weight
    return onnx.load(str(path))


def _const(model, name: str):
    """The Constant node (or initializer) that produces ``name``."""
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return n
    raise KeyError(name)


def _set_const(model, name: str, value: np.ndarray) -> None:
    node = _const(model, name)
    node.attribute[0].t.CopyFrom(numpy_helper.from_array(value, name=node.attribute[0].t.name))


def _first(model, op: str, weight: bool):
    """The first Q or DQ node on a weight (per-channel) or on an activation (per-tensor)."""
    for n in model.graph.node:
        if n.op_type == op and any(a.name == "axis" for a in n.attribute) == weight:
            if weight or n.op_type == "DequantizeLinear" or not n.input[0].endswith("weight"):
                return n
    raise LookupError(op)


def _rules(model) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for v in check_qdq(model):
        out.setdefault(v.rule, set()).add(v.node)
    return out


def test_real_export_passes(qdq_onnx, tmp_path):
    assert check_qdq(qdq_onnx) == []
    onnx.save(qdq_onnx, str(tmp_path / "good.onnx"))
    assert require_qdq(tmp_path / "good.onnx") == sum(n.op_type == "QuantizeLinear" for n in qdq_onnx.graph.node)


def test_uint8_and_nonzero_zero_points(qdq_onnx):
    m = copy.deepcopy(qdq_onnx)
    q = _first(m, "QuantizeLinear", weight=False)
    _set_const(m, q.input[2], np.array(0, dtype=np.uint8))
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[2] != q.input[2])
    _set_const(m, dq.input[2], np.array(3, dtype=np.int8))
    rules = _rules(m)
    assert q.name in rules["int8"] and dq.name in rules["zero-point"]


def test_missing_zero_point_means_uint8(qdq_onnx):
    m = copy.deepcopy(qdq_onnx)
    q = _first(m, "QuantizeLinear", weight=False)
    del q.input[2]
    assert q.name in _rules(m)["int8"]


def test_weight_on_the_wrong_axis_and_per_channel_activation(qdq_onnx):
    m = copy.deepcopy(qdq_onnx)
    dq = _first(m, "DequantizeLinear", weight=True)
    next(a for a in dq.attribute if a.name == "axis").i = 1
    q = _first(m, "QuantizeLinear", weight=False)
    _set_const(m, q.input[1], np.full(4, 0.1, dtype=np.float32))
    rules = _rules(m)
    assert dq.name in rules["per-channel"] and q.name in rules["per-channel"]


def test_bad_scale_custom_domain_unpaired_q_and_old_opset(qdq_onnx):
    m = copy.deepcopy(qdq_onnx)
    q = _first(m, "QuantizeLinear", weight=False)
    _set_const(m, q.input[1], np.array(0.0, dtype=np.float32))
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    conv.domain = "com.microsoft"
    # a Conv that reads the INT8 tensor itself, skipping its DequantizeLinear
    other = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.name != q.name)
    m.graph.node.append(helper.make_node("Relu", [other.output[0]], ["stray"], name="stray_relu"))
    m.opset_import[0].version = 11
    rules = _rules(m)
    assert q.name in rules["scale"] and conv.name in rules["domain"] and other.name in rules["pair"]
    assert rules["opset"] == {"model"}


def test_float_model_is_not_a_qdq_model(tmp_path):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "fp32.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(QDQError, match=r"(?s)fp32\.onnx breaks 1 TensorRT.*no QuantizeLinear"):
        require_qdq(path)
