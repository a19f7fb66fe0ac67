"""The channel-local DFL head decodes the boxes that Ultralytics' Detect head decodes, in PyTorch and exported."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def model():
    """A YOLO11n (nc=80) whose box logits are spread wide, so that a softmax computed wrongly would show."""
    from yolopress._ultralytics import YOLO

    torch.manual_seed(0)
    m = YOLO("yolo11n.yaml").model.eval()
    for seq in m.model[-1].cv2:  # the box branch's last 1x1 convolution of each level
        seq[-1].weight.data *= 30
    return m


def test_channel_dfl_is_ultralytics_dfl():
    from ultralytics.nn.modules.block import DFL

    from yolopress.export.head import channel_dfl

    t = torch.randn(2, 64, 5, 7) * 5  # logits spanning ~25 at an anchor, as the demo's trained heads do
    t[:, :16] -= 50  # one side's logits ~60 below the others' (7 at most in the demo's models): none lost
    ref = DFL(16)(t.flatten(2))
    torch.testing.assert_close(channel_dfl(t, 16), ref, rtol=1e-5, atol=1e-4)


def test_fast_dfl_keeps_the_outputs_and_training(model):
    from yolopress.export.head import fast_dfl

    fast = copy.deepcopy(model)
    assert fast_dfl(fast)
    for size, batch in ((64, 1), (96, 3)):
        x = torch.rand(batch, 3, size, size)
        with torch.no_grad():
            ref, got = model(x)[0], fast(x)[0]
        assert got.shape == ref.shape == (batch, 84, sum((size // s) ** 2 for s in (8, 16, 32)))
        assert float(ref[:, :4].std()) > 1  # the boxes vary: the comparison is not of constants
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=2e-3)  # pixels, at boxes up to the image size
    # training sees Ultralytics' head: the raw per-level maps the loss reads
    fast.train(), model.train()
    x = torch.rand(2, 3, 64, 64)
    ref, got = model(x), fast(x)
    assert ref.keys() == got.keys() and "decoded" not in got
    torch.testing.assert_close(got["boxes"], ref["boxes"])


def test_fast_dfl_leaves_other_heads_as_they_are(model):
    from yolopress._ultralytics import YOLO
    from yolopress.export.head import fast_dfl

    seg = YOLO("yolo11n-seg.yaml").model
    assert not fast_dfl(seg)
    assert type(seg.model[-1]).__name__ == "Segment"
    one_bin = copy.deepcopy(model)
    one_bin.model[-1].reg_max = 1  # YOLO26-style heads regress the distances directly: nothing to decode
    assert not fast_dfl(one_bin)
    assert type(one_bin.model[-1]).__name__ == "Detect"


def test_exported_onnx_agrees_at_any_batch_and_size(model, tmp_path):
    import onnxruntime as ort

    from yolopress._ultralytics import YOLO
    from yolopress.export.head import fast_dfl
    from yolopress.export.onnx import export_onnx

    yolo = YOLO("yolo11n.yaml")
    yolo.model = copy.deepcopy(model)
    yolo.save(str(tmp_path / "m.pt"))
    paths = {
        name: export_onnx(tmp_path / "m.pt", tmp_path / name, 64, dynamic=True, transform=tf)
        for name, tf in (("stock", None), ("fast", fast_dfl))
    }
    x = np.random.default_rng(0).random((2, 3, 96, 128), dtype=np.float32)
    out = {}
    for name, path in paths.items():
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out[name] = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert out["fast"].shape == out["stock"].shape == (2, 84, 12 * 16 + 6 * 8 + 3 * 4)
    np.testing.assert_allclose(out["fast"], out["stock"], rtol=1e-5, atol=2e-3)
    import onnx

    ops = {name: [n.op_type for n in onnx.load(str(p)).graph.node] for name, p in paths.items()}
    # the export changed, not only the model: the DFL's softmax (the attention block keeps its own) became one
    # max and exp per level
    assert ops["fast"].count("Softmax") == ops["stock"].count("Softmax") - 1
    assert ops["fast"].count("ReduceMax") == ops["stock"].count("ReduceMax") + 3
