"""Fake quantization of a tiny YOLO11n: BatchNorm folded, quantizers placed and calibrated, quantization noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yolopress.compress.qat import (
    QuantError,
    QuantNoise,
    amax_values,
    noise_share,
    prepare,
    quantized_layers,
    quiet_modelopt,
)


def _tiny(weight_range: str = "full", quantize_dfl: bool = False) -> nn.Module:
    from yolopress._ultralytics import YOLO

    torch.manual_seed(0)
    calib = [torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with quiet_modelopt():
        return prepare(YOLO("yolo11n.yaml").model, calib, quantize_dfl, weight_range)


@pytest.fixture(scope="module")
def tiny_q() -> nn.Module:
    return _tiny()


def test_batchnorm_is_folded_and_every_conv_but_dfl_is_quantized(tiny_q):
    assert not any(isinstance(m, nn.BatchNorm2d) for m in tiny_q.modules())
    convs = [n for n, m in tiny_q.named_modules() if isinstance(m, nn.Conv2d)]
    layers = {id(m) for m, _ in quantized_layers(tiny_q)}
    quantized = [n for n, m in tiny_q.named_modules() if isinstance(m, nn.Conv2d) and id(m) in layers]
    assert sorted(set(convs) - set(quantized)) == ["model.23.dfl.conv"]
    for name, m in tiny_q.named_modules():
        if name.endswith("weight_quantizer") and m.is_enabled:
            # per output channel, signed 8-bit, symmetric
            assert m.num_bits == 8 and m.axis == 0 and not m.unsigned
    assert all((a > 0).all() for a in amax_values(tiny_q).values())


def test_dfl_can_be_quantized_too():
    names = {n for n, m in _tiny(quantize_dfl=True).named_modules() if n.endswith("quantizer") and m.is_enabled}
    assert "model.23.dfl.conv.weight_quantizer" in names


def test_half_range_doubles_weight_ranges_only(tiny_q):
    half = amax_values(_tiny("half"))
    full = amax_values(tiny_q)
    assert half.keys() == full.keys()
    for name, a in full.items():
        factor = 2.0 if name.endswith("weight_quantizer") else 1.0
        torch.testing.assert_close(half[name], a * factor)


def test_fake_quantized_model_still_detects_like_the_float_one(tiny_q):
    from yolopress._ultralytics import YOLO

    torch.manual_seed(0)
    ref = YOLO("yolo11n.yaml").model.float().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = ref(x)[0], tiny_q.eval()(x)[0]
    assert a.shape == b.shape
    # same weights (BatchNorm folded), INT8 noise only: boxes within a few pixels at 64 px
    assert (a[:, :4] - b[:, :4]).abs().median() < 2.0


def test_empty_calibration_is_refused():
    from yolopress._ultralytics import YOLO

    with pytest.raises(QuantError, match="no calibration images"):
        prepare(YOLO("yolo11n.yaml").model, [])


def test_noise_share_rises_from_start_to_one_at_the_ramp():
    shares = [noise_share(i, 100, 0.5, 0.8) for i in range(100)]
    assert shares[0] == 0.5 and shares[79] < 1.0 and shares[80] == 1.0 and shares[-1] == 1.0
    assert all(b >= a for a, b in zip(shares, shares[1:], strict=False))


def test_quant_noise_switches_whole_layers_and_finish_restores(tiny_q):
    noise = QuantNoise(tiny_q, total_steps=10, start=0.5, ramp=0.5, seed=0)
    n = len(noise.layers)
    assert n == len(quantized_layers(tiny_q))
    assert noise.step() == 0.5
    on = [all(q.is_enabled for q in qs) for _, qs in noise.layers]
    off = [not any(q.is_enabled for q in qs) for _, qs in noise.layers]
    assert all(a or b for a, b in zip(on, off, strict=True))  # input and weight switched together
    assert 0.25 * n < sum(on) < 0.75 * n
    for _ in range(5):
        noise.step()
    assert noise.shares[-1] == 1.0 and all(q.is_enabled for _, qs in noise.layers for q in qs)
    noise.finish()
    assert len(quantized_layers(tiny_q)) == n
    # the DFL quantizers were never part of the noise and stay off
    assert not any(m.is_enabled for name, m in tiny_q.named_modules() if ".dfl." in name and name.endswith("quantizer"))
