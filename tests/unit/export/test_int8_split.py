"""The OpenVINO INT8 export without the CSP blocks' splits computes what the fake-quantized checkpoint does."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """A tiny YOLO11n, calibrated on random images and saved as the qat stage saves it."""
    from yolopress._ultralytics import YOLO
    from yolopress.compress.qat import prepare, quiet_modelopt

    d = tmp_path_factory.mktemp("split")
    torch.manual_seed(0)
    with quiet_modelopt():
        yolo = YOLO("yolo11n.yaml")
        yolo.model = prepare(yolo.model, [torch.rand(2, 3, 64, 64)], weight_range="half")
        yolo.save(str(d / "q.pt"))
    return d, yolo.model


def _splits(model) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() in ("Split", "VariadicSplit"))


def test_splitting_a_fake_quantized_model_keeps_its_function(quantized):
    from yolopress.compress.csp import _HalvedCSP, split_for_int8

    _, model = quantized
    split = copy.deepcopy(model).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref = model.eval()(x)[0]
        n = split_for_int8(split)
        got = split(x)[0]
    halves = [m for m in split.modules() if isinstance(m, _HalvedCSP)]
    assert n == len(halves) == 9  # 8 C3k2 and the C2PSA of YOLO11n
    # each half kept its slice of the per-channel weight ranges, and the block's input range
    for h in halves:
        wa, wb = h.a.conv.weight_quantizer.amax, h.b.conv.weight_quantizer.amax
        assert wa.shape[0] == h.a.conv.out_channels and wb.shape[0] == h.b.conv.out_channels
        assert torch.equal(h.a.conv.input_quantizer.amax, h.b.conv.input_quantizer.amax)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)


def test_the_openvino_int8_ir_without_splits_matches_the_one_with_them(quantized):
    import openvino as ov

    from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx

    d, _ = quantized
    irs, pairs = {}, {}
    # as the qat stage exports for OpenVINO (split, channel-local DFL), and without each change
    for name, split, fast in (("unsplit", False, False), ("split", True, False), ("qat", True, True)):
        onnx_path, exported = export_qdq_onnx(d / "q.pt", d / f"export-{name}", 64, split_csp=split, fast_dfl=fast)
        pairs[name] = exported["qdq_pairs"]
        assert (exported["split_csp"], exported["fast_dfl"]) == (split, fast)
        irs[name] = ov.Core().read_model(str(export_openvino_int8(onnx_path, d / f"ir-{name}") / "model.xml"))
    assert _splits(irs["split"]) <= _splits(irs["unsplit"]) - 9  # one split fewer per block
    assert pairs["split"] == pairs["unsplit"] + 2 * 9  # one more convolution per block: its input and weight pairs
    assert pairs["qat"] == pairs["split"]  # the DFL stays float either way
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    out = {s: ov.Core().compile_model(irs[s], "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0] for s in irs}
    np.testing.assert_allclose(out["split"], out["unsplit"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(out["qat"], out["split"], rtol=0, atol=1e-3)
    # the checkpoint is untouched: it still loads under the restricted allow-list, with the original blocks
    from yolopress.checkpoints import load_model

    assert not any(type(m).__name__ == "_HalvedCSP" for m in load_model(d / "q.pt").modules())
