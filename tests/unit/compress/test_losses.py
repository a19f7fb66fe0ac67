"""Distillation losses: zero at a perfect match, positive otherwise, and a scale that does not drift."""

import pytest
import torch

from yolopress.compress.kd_weights import anchor_weights
from yolopress.compress.losses import ChannelWiseKD, ClassificationKD, LocalizationKD, NaiveLogitKD

NC, REG = 8, 16
CH_S, CH_T = [8, 16, 32], [16, 32, 64]


def outputs(b: int = 2, side: int = 8, seed: int = 0, ch=CH_S) -> dict:
    """Raw head outputs of a detector at image size ``side * 8``: P3-P5 maps and their anchors."""
    g = torch.Generator().manual_seed(seed)
    sizes = [side, side // 2, side // 4]
    a = sum(s * s for s in sizes)
    return {
        "scores": torch.randn(b, NC, a, generator=g) * 3 - 2,
        "boxes": torch.randn(b, 4 * REG, a, generator=g),
        "feats": [torch.randn(b, c, s, s, generator=g) for c, s in zip(ch, sizes, strict=True)],
    }


def identity_cwd() -> ChannelWiseKD:
    """CWD whose adapters map the student exactly onto the teacher's widths (same channels, identity 1x1)."""
    cwd = ChannelWiseKD(CH_T, CH_T)
    for conv in cwd.adapters:
        with torch.no_grad():
            conv.weight.copy_(torch.eye(conv.out_channels).view_as(conv.weight))
            conv.bias.zero_()
    return cwd


ANCHOR_LOSSES = [ClassificationKD(1.0), ClassificationKD(2.0), LocalizationKD(REG, 1.0), LocalizationKD(REG, 2.0)]


@pytest.mark.parametrize("loss", ANCHOR_LOSSES, ids=lambda m: f"{type(m).__name__}-T{m.t}")
def test_anchor_losses_zero_on_match_positive_otherwise(loss):
    t, s = outputs(seed=0), outputs(seed=1)
    w = anchor_weights(t, None, "teacher")
    assert loss(t, t, w).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(s, t, w).item() > 0.01


def test_cwd_zero_on_match_positive_otherwise():
    t = outputs(ch=CH_T, seed=0)
    cwd = identity_cwd()
    assert cwd(t, t).item() == pytest.approx(0.0, abs=1e-5)
    assert cwd(outputs(ch=CH_T, seed=1), t).item() > 0.01
    # adapters turn any student width into the teacher's
    assert ChannelWiseKD(CH_S, CH_T)(outputs(seed=1), t).item() > 0.0


def _twice(d: dict, dim: int) -> dict:
    """The same outputs repeated along the batch (dim 0) or the anchors (dim 2)."""
    return {
        "scores": torch.cat([d["scores"]] * 2, dim),
        "boxes": torch.cat([d["boxes"]] * 2, dim),
        "feats": [torch.cat([f] * 2, 0) for f in d["feats"]] if dim == 0 else d["feats"],
    }


@pytest.mark.parametrize("loss", ANCHOR_LOSSES[::2], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("dim", [0, 2], ids=["batch", "anchors"])
def test_anchor_losses_do_not_scale_with_batch_or_anchor_count(loss, dim):
    s, t = outputs(seed=1), outputs(seed=0)
    fg = torch.rand(t["scores"].shape[0], t["scores"].shape[2], generator=torch.Generator().manual_seed(2)) > 0.8
    ref = loss(s, t, anchor_weights(t, fg, "both"))
    s2, t2 = _twice(s, dim), _twice(t, dim)
    fg2 = torch.cat([fg] * 2, 0 if dim == 0 else 1)
    assert loss(s2, t2, anchor_weights(t2, fg2, "both")).item() == pytest.approx(ref.item(), rel=1e-5)


def test_cwd_does_not_scale_with_batch_or_image_size():
    s, t = outputs(ch=CH_T, seed=1), outputs(ch=CH_T, seed=0)
    cwd = identity_cwd()
    ref = cwd(s, t).item()
    assert cwd(_twice(s, 0), _twice(t, 0)).item() == pytest.approx(ref, rel=1e-5)

    def upsampled(d):  # the same scene at twice the resolution: each position becomes 2x2 equal ones
        return {"feats": [f.repeat_interleave(2, 2).repeat_interleave(2, 3) for f in d["feats"]]}

    # a softmax over 4x the positions of 4x-repeated logits is the same distribution, spread out
    assert cwd(upsampled(s), upsampled(t)).item() == pytest.approx(ref, rel=1e-4)


def test_naive_kd_grows_with_anchor_count():
    """The control's flaw, kept on purpose: a sum over anchors doubles when the image has twice the anchors."""
    s, t = outputs(seed=1), outputs(seed=0)
    naive = NaiveLogitKD(10.0)
    assert naive(_twice(s, 2), _twice(t, 2)).item() == pytest.approx(2 * naive(s, t).item(), rel=1e-5)
    assert naive(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_reach_the_student_and_adapters_only():
    t = outputs(ch=CH_T, seed=0)
    s = outputs(seed=1)
    for key in ("scores", "boxes"):
        s[key].requires_grad_(True)
    for f in s["feats"]:
        f.requires_grad_(True)
    cwd = ChannelWiseKD(CH_S, CH_T)
    w = anchor_weights(t, None, "teacher")
    total = ClassificationKD()(s, t, w) + LocalizationKD(REG)(s, t, w) + cwd(s, t)
    total.backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in (s["scores"], s["boxes"], *s["feats"]))
    assert all(p.grad is not None for p in cwd.parameters())
    assert all(x.grad is None for x in (t["scores"], t["boxes"], *t["feats"]))


def test_anchor_weights_modes():
    t = outputs(seed=0)
    fg = torch.zeros(t["scores"].shape[0], t["scores"].shape[2], dtype=torch.bool)
    fg[:, :5] = True
    conf = anchor_weights(t, fg, "teacher")
    assert torch.allclose(conf, torch.sigmoid(t["scores"]).amax(1))
    assert torch.equal(anchor_weights(t, fg, "assigner"), fg.float())
    both = anchor_weights(t, fg, "both")
    assert torch.all(both[:, :5] == 1) and torch.allclose(both[:, 5:], conf[:, 5:])
    with pytest.raises(ValueError, match="unknown anchor weighting"):
        anchor_weights(t, fg, "everywhere")
