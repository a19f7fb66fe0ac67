"""INT8 fake quantization of Ultralytics detection models (NVIDIA ModelOpt), and quantization noise.

One placement serves both runtimes yolopress targets: TensorRT's explicit-quantization rules
(INT8, symmetric, zero-point 0, per-channel weights on the output-channel axis, per-tensor
activations) are also what OpenVINO's CPU plugin turns into INT8 convolutions when it reads the
same Q/DQ graph. Every convolution gets its input and weight fake-quantized; BatchNorm is folded
into the convolutions first, so the weights that are quantized in training are exactly the ones
that are deployed. The head's box decoding is arithmetic outside any convolution and stays float;
its DFL convolution (a fixed 0..15 projection) stays float unless asked for.

Why ModelOpt for both and not NNCF for OpenVINO (measured with nncf 3.4.0, torch 2.14.1, YOLO11n):
NNCF's PyTorch backend names its quantizers after the order of traced operations, and under
``torch.jit.trace`` (what ``openvino.convert_model`` and ``torch.onnx.export`` use) the C2PSA
attention's shape arithmetic adds operations, so quantizers land on integer tensors and the export
fails ("fake_quantize ... not implemented for 'Long'"); ``torch.export`` fails on the same model.
A ModelOpt model exports to a standard Q/DQ ONNX that OpenVINO reads directly.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterable

import torch
from torch import nn

# ModelOpt's torch plugins import huggingface_hub (only ever for Hugging Face models; nothing is fetched)
REQUIREMENT = "nvidia-modelopt and huggingface_hub (pip install -e . installs both)"


class QuantError(RuntimeError):
    pass


def _mtq():
    try:
        import modelopt.torch.quantization as mtq
    except ImportError as e:
        raise QuantError(f"INT8 quantization needs {REQUIREMENT}: {e}") from None
    return mtq


@contextlib.contextmanager
def quiet_modelopt():
    """Silence ModelOpt's "Inserted N quantizers" line, printed each time a quantized model is built or loaded,
    and two of its warnings that are not the user's to act on."""
    try:
        from modelopt.torch.quantization import conversion
    except ImportError:
        yield
        return
    conversion.print = lambda *args, **kwargs: None  # shadows the builtin in that module only
    try:
        with warnings.catch_warnings():
            # about Hugging Face models, and about SPPF's parameterless max-pool when a checkpoint is restored
            warnings.filterwarnings("ignore", message="Cannot find transformers package")
            warnings.filterwarnings("ignore", message="Could not identify the device for TensorQuantizer")
            yield
    finally:
        del conversion.print


def quant_config(quantize_dfl: bool = False) -> dict:
    """ModelOpt's INT8 recipe (per-channel weights, per-tensor activations, signed, zero-point 0) for a detector."""
    cfg = copy.deepcopy(_mtq().INT8_DEFAULT_CFG)
    if not quantize_dfl:  # a list of rules, later ones win (ModelOpt 0.47; the pin in pyproject.toml)
        cfg["quant_cfg"].append({"quantizer_name": "*dfl*", "enable": False})
    return cfg


# How much of the INT8 grid the weights use, per runtime. OpenVINO's CPU plugin multiplies u8
# activations by s8 weights with instructions that add pairs of products into int16 on CPUs
# without VNNI (AVX2 only, e.g. AMD Zen 3, this project's CI machine): 255 * 127 * 2 overflows
# and saturates. Measured on the demo YOLO11n: OpenVINO's boxes were up to 147 px off the
# fake-quantized model (p99 24 px); with weights on half the grid (|q| <= 64, 7 bits of
# resolution; NNCF's "overflow fix") they agree as closely as ONNX Runtime does (p99 3 px).
# TensorRT's GPU kernels have no such limit, nor do CPUs with an INT8 dot-product instruction
# (AVX-512 VNNI, AVX-VNNI, AMX), which accumulate in int32: full grid there (``qat.openvino_grid: auto``).
WEIGHT_RANGE = {"tensorrt": "full", "openvino": "half"}


def weight_range(target: str, openvino_grid: str = "half") -> str:
    """How much of the INT8 grid the weights of ``target`` use (see :data:`WEIGHT_RANGE`): for OpenVINO the
    resolved ``qat.openvino_grid`` (``QatConfig.openvino_weight_grid``)."""
    return openvino_grid if target == "openvino" else WEIGHT_RANGE[target]


def prepare(
    model: nn.Module, calibration: Iterable[torch.Tensor], quantize_dfl: bool = False, weight_range: str = "full"
) -> nn.Module:
    """Fold BatchNorm, insert fake quantizers and set their ranges from ``calibration`` (float images in [0, 1]).

    Ranges are the largest magnitude seen (ModelOpt's max calibrator) and stay fixed afterwards;
    fine-tuning then adapts the weights to them. ``weight_range="half"`` doubles every weight
    range, so the weights land on the inner half of the INT8 grid (see :data:`WEIGHT_RANGE`).
    Returns the model, modified in place.
    """
    if weight_range not in ("full", "half"):
        raise ValueError(f"weight_range must be full or half, got {weight_range!r}")
    mtq = _mtq()
    model = model.float().eval()
    model.fuse(verbose=False)  # Ultralytics folds each Conv's BatchNorm into the convolution
    batches = list(calibration)
    if not batches:
        raise QuantError("no calibration images: the training split is empty")

    def forward_loop(m: nn.Module) -> None:
        for x in batches:
            m(x)

    with torch.no_grad():
        model = mtq.quantize(model, quant_config(quantize_dfl), forward_loop)
    if weight_range == "half":
        for name, m in model.named_modules():
            if name.endswith("weight_quantizer") and m.is_enabled:
                m.amax = m.amax * 2
    for name, amax in amax_values(model).items():
        if not torch.isfinite(amax).all() or (amax <= 0).all():
            raise QuantError(f"calibration left quantizer {name} with range {amax.tolist()}: check the images")
    return model


def amax_values(model: nn.Module) -> dict[str, torch.Tensor]:
    """The calibrated range of every enabled quantizer, by name."""
    return {
        name: m.amax.detach()
        for name, m in model.named_modules()
        if type(m).__name__ == "TensorQuantizer" and m.is_enabled and getattr(m, "amax", None) is not None
    }


def quantized_layers(model: nn.Module) -> list[tuple[nn.Module, list[nn.Module]]]:
    """Each fake-quantized layer with its enabled quantizers (input and weight)."""
    layers = []
    for m in model.modules():
        qs = [getattr(m, n, None) for n in ("input_quantizer", "weight_quantizer")]
        qs = [q for q in qs if q is not None and q.is_enabled]
        if qs:
            layers.append((m, qs))
    return layers


def noise_share(step: int, total: int, start: float, ramp: float) -> float:
    """The share of layers fake-quantized at ``step`` of ``total``: ``start``, rising linearly to 1 at ``ramp``."""
    end = max(1, round(total * ramp))
    return 1.0 if step >= end else start + (1.0 - start) * step / end


class QuantNoise:
    """Quantization noise in the style of Fan et al. 2020 ("Training with Quantization Noise for Extreme
    Model Compression"): at each training step only a random share p of the layers is fake-quantized,
    the others run in float; p rises to 1 over the fine-tuning, so it ends fully quantized.

    A layer's input and weight quantizers are switched together. Only the training model is
    affected; the EMA copy that is validated and saved stays fully quantized.
    """

    def __init__(self, model: nn.Module, total_steps: int, start: float, ramp: float, seed: int = 0) -> None:
        self.layers = quantized_layers(model)
        self.total, self.start, self.ramp = total_steps, start, ramp
        self.step_i = 0
        self.gen = torch.Generator().manual_seed(seed)
        self.shares: list[float] = []

    def step(self) -> float:
        p = noise_share(self.step_i, self.total, self.start, self.ramp)
        on = torch.rand(len(self.layers), generator=self.gen) < p
        for (_, qs), enabled in zip(self.layers, on.tolist(), strict=True):
            for q in qs:
                q.enable() if enabled else q.disable()
        self.step_i += 1
        self.shares.append(p)
        return p

    def finish(self) -> None:
        for _, qs in self.layers:
            for q in qs:
                q.enable()
