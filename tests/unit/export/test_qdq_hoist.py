"""Each tensor quantized once: the Q/DQ rewrite keeps the function and quantizes a shared tensor once."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def _graph(resize_mode: str = "nearest", scale2: float = 0.05):
    """x -> conv a -> SiLU -> {Q/DQ(s) -> conv b, Cast -> Concat(., upsampled conv c) -> Q/DQ(s2) -> conv d}."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, arr):
        return numpy_helper.from_array(np.asarray(arr), name)

    inits = [
        init("wa", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
        init("wb", rng.normal(size=(2, 4, 1, 1)).astype(np.float32)),
        init("wc", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
        init("wd", rng.normal(size=(2, 8, 1, 1)).astype(np.float32)),
        init("s", np.float32(0.05)),
        init("s2", np.float32(scale2)),
        init("z", np.int8(0)),
        init("up", np.array([1, 1, 2, 2], np.float32)),
    ]
    qdq = lambda src, s, tag: [  # noqa: E731
        helper.make_node("QuantizeLinear", [src, s, "z"], [f"{tag}_q"], name=f"{tag}/QuantizeLinear"),
        helper.make_node("DequantizeLinear", [f"{tag}_q", s, "z"], [f"{tag}_dq"], name=f"{tag}/DequantizeLinear"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["a"], ["a_sig"]),
        helper.make_node("Mul", ["a", "a_sig"], ["a_act"]),
        *qdq("a_act", "s", "b_in"),
        helper.make_node("Conv", ["b_in_dq", "wb"], ["out_b"]),
        helper.make_node("Cast", ["a_act"], ["a_cast"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Resize", ["c", "", "up"], ["c_up"], mode=resize_mode),
        helper.make_node("Concat", ["a_cast", "c_up"], ["cat"], axis=1),
        *qdq("cat", "s2", "d_in"),
        helper.make_node("Conv", ["d_in_dq", "wd"], ["out_d"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 8, 8]) for n in ("out_b", "out_d")]
    graph = helper.make_graph(nodes, "g", [x], outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _quantizers_reading(path, tensor: str) -> int:
    import onnx

    return sum(n.op_type == "QuantizeLinear" and n.input[0] == tensor for n in onnx.load(str(path)).graph.node)


def test_hoisting_keeps_the_outputs_and_quantizes_a_shared_tensor_once(tmp_path):
    import onnx

    from yolopress.export.qdq_hoist import hoist_qdq

    path = tmp_path / "m.onnx"
    onnx.save(_graph(scale2=0.05), str(path))  # both readers of conv a's output on one grid
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    before = _run(path, x)
    assert _quantizers_reading(path, "a_act") == 1  # the other reaches it through the Cast and the Concat
    record = hoist_qdq(path)
    # the Cast goes, the pair after the Concat moves onto both inputs and on through the nearest Resize, and the
    # copy on conv a's output merges with the pair already there
    assert record == {"casts_dropped": 1, "hoisted": 2, "merged": 1}
    after = _run(path, x)
    for got, ref in zip(after, before, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert _quantizers_reading(path, "a_act") == 1 and _quantizers_reading(path, "c") == 1
    assert _quantizers_reading(path, "cat") == 0  # the requantization of on-grid values is gone
    onnx.checker.check_model(onnx.load(str(path)))


def test_different_grids_are_not_merged_and_a_linear_resize_keeps_its_quantizer(tmp_path):
    import onnx

    from yolopress.export.qdq_hoist import hoist_qdq

    path = tmp_path / "m.onnx"
    onnx.save(_graph(resize_mode="linear", scale2=0.08), str(path))
    x = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    before = _run(path, x)
    record = hoist_qdq(path)
    assert record == {"casts_dropped": 1, "hoisted": 1, "merged": 0}
    assert _quantizers_reading(path, "a_act") == 2  # two grids: both stay
    assert _quantizers_reading(path, "c") == 0 and _quantizers_reading(path, "c_up") == 1  # interpolated values
    for got, ref in zip(_run(path, x), before, strict=True):
        np.testing.assert_array_equal(got, ref)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A tiny YOLO11n, calibrated on random images with shared input ranges, saved as the qat stage saves it."""
    from yolopress._ultralytics import YOLO
    from yolopress.compress.qat import prepare, quiet_modelopt
    from yolopress.compress.ranges import share_input_ranges

    d = tmp_path_factory.mktemp("hoist")
    torch.manual_seed(0)
    calib = [torch.rand(2, 3, 64, 64)]
    with quiet_modelopt():
        yolo = YOLO("yolo11n.yaml")
        yolo.model = prepare(yolo.model, calib)
        groups = share_input_ranges(yolo.model, calib[0][:1])
        yolo.save(str(d / "q.pt"))
    return d, groups


def _float_quantize_kernels(ir) -> int:
    """Runtime nodes of the compiled IR that quantize a tensor on their own instead of inside its convolution."""
    import openvino as ov

    compiled = ov.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    count = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else ""
        if kind in ("Subgraph", "FakeQuantize") and "quantizer" in op.get_friendly_name():
            count += 1
    return count


def test_the_hoisted_yolo_ir_is_the_same_function_with_fewer_separate_quantize_kernels(shared):
    import openvino as ov

    from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx

    d, groups = shared
    assert groups  # YOLO11n's C3k2 blocks and skip connections give several groups
    irs, records = {}, {}
    for name, hoist in (("plain", False), ("hoisted", True)):
        onnx_path, records[name] = export_qdq_onnx(
            d / "q.pt", d / f"export-{name}", 64, split_csp=True, fast_dfl=True, hoist_qdq=hoist
        )
        irs[name] = ov.Core().read_model(str(export_openvino_int8(onnx_path, d / f"ir-{name}") / "model.xml"))
    assert records["plain"]["hoist_qdq"] is None
    assert records["hoisted"]["hoist_qdq"]["merged"] >= len(groups) // 2
    x = np.random.default_rng(0).random((2, 3, 96, 64), dtype=np.float32)  # another size and batch than exported
    out = {n: ov.Core().compile_model(irs[n], "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0] for n in irs}
    np.testing.assert_allclose(out["hoisted"], out["plain"], rtol=0, atol=1e-4)
    assert _float_quantize_kernels(irs["hoisted"]) < _float_quantize_kernels(irs["plain"])
