"""Does a space-to-depth stem make the INT8 IR faster? The same fake-quantized model, its first convolution rewritten.

At 640 px the stem (a 3x3, stride-2 convolution on 3 input channels) is the INT8 IR's costliest node on an AMX
Xeon (0.91 ms of 10.9, ``benchmarks/ov_profile.py``): 3 channels suit INT8 kernels badly. The usual cure is
space-to-depth: a 3x3/s2/p1 convolution equals a 2x2/s1 convolution on ``pixel_unshuffle(x, 2)`` (12 channels),
padded by one row and column at the top and left, with the 3x3 weights scattered into the 2x2x12 kernel (the
rest zeros). The input quantizer runs before the rearrangement and the weight quantizer on the scattered
kernel, whose per-channel maxima are the original's, so the INT8 model is the same function (the script checks
the stem in float and the IRs' outputs at 640 px).

From a finished run (``make deploy``), the qat stage's OpenVINO checkpoint is exported as the qat stage does
(CSP split, channel-local DFL), once as it is and once with the rewritten stem, and both IRs are timed against
native FP32 on ONNX Runtime in alternating rounds (benchmarks/speed.py's method):

    .venv/bin/python benchmarks/stem_s2d.py [--run runs/demo] [--size 640] [--rounds 5]

Prints a table; writes benchmarks/results/stem_s2d.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _result import write_result
from speed import REFERENCE, RESULTS, artifact_paths, time_rounds
from torch import nn

from yolopress.bench.device import cpu_class, cpu_flags


class SpaceToDepthStem(nn.Module):
    """A fake-quantized 3x3/s2/p1 convolution as a 2x2/s1 convolution on its space-to-depth input."""

    def __init__(self, qconv: nn.Module) -> None:
        super().__init__()
        self.qconv = qconv  # keeps its quantizers and bias
        w = qconv.weight.data
        out, cin = w.shape[:2]
        # tap u of the 3x3 kernel reads input row 2i+u-1: row 2(i-1)+1 for u=0, 2i+(u-1) for u=1, 2
        where = {0: (0, 1), 1: (1, 0), 2: (1, 1)}  # u -> (2x2 tap, sub-pixel)
        w2 = torch.zeros(out, cin, 2, 2, 2, 2, dtype=w.dtype)  # (out, c, sub-row, sub-col, tap row, tap col)
        for u, (a, p) in where.items():
            for v, (b, q) in where.items():
                w2[:, :, p, q, a, b] = w[:, :, u, v]
        self.weight = nn.Parameter(w2.reshape(out, cin * 4, 2, 2))  # pixel_unshuffle's channel order: c, p, q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(F.pixel_unshuffle(self.qconv.input_quantizer(x), 2), (1, 0, 1, 0))
        return F.conv2d(x, self.qconv.weight_quantizer(self.weight), self.qconv.bias)


def rewrite_stem(model: nn.Module) -> float:
    """Swap the stem convolution for :class:`SpaceToDepthStem` in place; return the float mismatch on a probe."""
    conv = model.model[0].conv
    if conv.kernel_size != (3, 3) or conv.stride != (2, 2) or conv.padding != (1, 1) or conv.groups != 1:
        raise ValueError(f"the stem is not a plain 3x3/s2/p1 convolution: {conv}")
    new = SpaceToDepthStem(conv)
    x = torch.rand(1, conv.in_channels, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        err = (conv(x) - new(x)).abs().max().item()
    model.model[0].conv = new
    return err


def export_ir(pt: Path, imgsz: int, work: Path, s2d: bool) -> tuple[Path, float | None]:
    """The INT8 IR of ``pt`` as the qat stage exports it, with the space-to-depth stem if ``s2d``."""
    from yolopress.compress.csp import split_for_int8
    from yolopress.compress.qat import quiet_modelopt
    from yolopress.export.common import ultralytics_export
    from yolopress.export.head import fast_dfl
    from yolopress.export.int8 import export_openvino_int8

    err = []

    def transform(model: nn.Module) -> None:
        split_for_int8(model)
        fast_dfl(model)
        if s2d:
            err.append(rewrite_stem(model))

    with quiet_modelopt():
        onnx = ultralytics_export(
            pt, work / "onnx", transform, format="onnx", imgsz=imgsz, opset=17, simplify=False, dynamic=True, batch=1
        )
        return export_openvino_int8(onnx, work / "ir"), (err[0] if err else None)


def output_gap(a: Path, b: Path, size: int) -> float:
    """The largest difference between two IRs' raw outputs on one random image at ``size``."""
    from yolopress.runtime import load_runner

    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    outs = []
    for path in (a, b):
        with load_runner(path, "openvino", size, batch=1) as runner:
            outs.append(runner.infer(x))
    return float(np.abs(outs[0] - outs[1]).max())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--batch", type=int, default=8, help="the throughput batch beside batch 1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS / "stem_s2d.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    found = artifact_paths(args.run)
    qat = args.run / "qat" / "stage.json"
    if REFERENCE not in found or not qat.exists():
        print(f"no native ONNX export or qat stage in {args.run}: run `make deploy` first")
        return 2
    pt = args.run / "qat" / json.loads(qat.read_text())["outputs"]["openvino.model"]
    imgsz = json.loads((args.run / "bench" / "results.json").read_text())["imgsz"]
    with tempfile.TemporaryDirectory() as tmp:
        plain, _ = export_ir(pt, imgsz, Path(tmp) / "plain", s2d=False)
        s2d, stem_err = export_ir(pt, imgsz, Path(tmp) / "s2d", s2d=True)
        gap = output_gap(plain, s2d, args.size)
        arts = {REFERENCE: (*found[REFERENCE], {}), "int8 stem 3x3": (plain, "openvino", {})}
        arts["int8 stem space-to-depth"] = (s2d, "openvino", {})
        rows = time_rounds(arts, REFERENCE, args.size, args.batch, args.rounds, {})
    print(f"stem rewrite: float mismatch {stem_err:.2e}; IR outputs differ by {gap:.3g} at {args.size} px")
    print(f"\n{args.size} px, batch 1 p50 (median of {args.rounds} alternating rounds); {cpu_class()} CPU")
    print(f"{'artifact':<28} {'p50 ms':>8} {'speed-up':>9} {'img/s @' + str(args.batch):>10}")
    for name, r in rows.items():
        print(
            f"{name:<28} {r['p50_ms']:>8.2f} {r['speedup_vs_native_fp32_ort']:>8.2f}x "
            f"{r[f'images_per_s_batch{args.batch}']:>10}"
        )
    fields = {"run": str(args.run), "cpu_flags": cpu_flags(), "cpu_class": cpu_class(), "size": args.size}
    fields |= {"stem_float_mismatch": stem_err, "ir_output_gap": gap, "rows": rows}
    write_result(args.out, "stem_s2d", fields, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
