"""What quantizing each tensor once buys the OpenVINO INT8 IR (shared input ranges, the Q/DQ hoist), call by call.

The shipped student initialisation is pruned as the demo prunes it (``prune.macs``, or each of ``--shares``; no
fine-tuning: speed depends on the channel counts only), fake-quantized as the qat stage does (calibrated on random
images), once with each quantizer's own range (as before ``qat.shared_ranges``) and once with shared ranges, and
exported as the qat stage exports the OpenVINO target (CSP split, channel-local head), the second with the Q/DQ
hoist (:mod:`yolopress.export.qdq_hoist`). The script checks that the hoist changes no output (the shared-range
model exported with and without it, on ONNX Runtime), counts the compiled IRs' separate quantize kernels, and
times native FP32 on ONNX Runtime and both IRs interleaved (batch 1, the bench's runners) in turns of
``--block`` calls each, so the host's drift cancels out of the paired ratios. Call by call (block 1) pairs
most closely, but every call then starts with another model's weights and activations in the caches; a
deployed model runs hot, as it does in turns of a few dozen calls (the first call of each turn untimed, each
turn's median paired with the other artifacts' in the same pass). Each block size is its own pass.

    .venv/bin/python benchmarks/shared_ranges.py [--shares 0.3 0.4 0.5] [--size 640] [--calls 600] [--block 1 30]

Prints a table; writes benchmarks/results/shared_ranges.json.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _result import write_result
from int8_prune_speed import ROOT, STUDENT, pruned

from yolopress.bench.device import cpu_class, cpu_flags
from yolopress.compress.qat import quiet_modelopt
from yolopress.compress.qat_stage import quantized_model
from yolopress.config import load_config
from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx
from yolopress.export.onnx import export_onnx

RESULTS = Path(__file__).resolve().parent / "results"


def separate_quantize_kernels(ir: Path) -> int:
    """Nodes of the compiled IR that quantize a tensor by themselves, outside the convolution that makes it."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(ir / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    count = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else ""
        count += kind in ("Subgraph", "FakeQuantize") and "quantizer" in op.get_friendly_name()
    return count


def build(pt: Path, imgsz: int, grid: str, work: Path) -> tuple[dict[str, Path], dict]:
    """The two OpenVINO INT8 IRs of ``pt``, and what the shared-range export did (groups, rewrite, output gap)."""
    import onnxruntime as ort

    calib = list(torch.rand(32, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).split(8))
    irs, info = {}, {}
    with quiet_modelopt():
        for name, shared in (("own ranges", False), ("shared ranges + hoist", True)):
            yolo, groups = quantized_model(pt, calib, False, "openvino", grid, shared_ranges=shared)
            yolo.save(str(work / f"fq-{shared}.pt"))
            onnx, rec = export_qdq_onnx(
                work / f"fq-{shared}.pt",
                work / f"onnx-{shared}",
                imgsz,
                split_csp=True,
                fast_dfl=True,
                hoist_qdq=shared,
            )
            irs[name] = export_openvino_int8(onnx, work / f"ir-{shared}")
            if shared:
                info |= {"groups": len(groups), "hoist_qdq": rec["hoist_qdq"], "onnx": onnx}
        plain, _ = export_qdq_onnx(work / "fq-True.pt", work / "onnx-plain", imgsz, split_csp=True, fast_dfl=True)
    x = np.random.default_rng(0).random((2, 3, imgsz, imgsz), dtype=np.float32)
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
        for p in (plain, info.pop("onnx"))
    ]
    info["hoist_output_gap"] = float(np.abs(outs[0] - outs[1]).max())
    return irs, info


def interleaved(arts: dict[str, tuple[Path, str]], size: int, calls: int, block: int = 1) -> tuple[dict, dict]:
    """Latencies of every artifact, ``calls`` each, taken in turns of ``block`` calls: rows with each one's p50
    over all its calls and the median over turns of the paired ratio of the first artifact's turn to its own;
    and each artifact's per-turn medians (s)."""
    from yolopress.runtime import load_runner

    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    with contextlib.ExitStack() as stack:
        runners = [stack.enter_context(load_runner(path, runtime, size, batch=1)) for path, runtime in arts.values()]
        for r in runners:
            for _ in range(20):
                r.infer(x)
        t = np.zeros((len(runners), max(1, calls // block), block))
        for i in range(t.shape[1]):
            for j, r in enumerate(runners):
                if block > 1:
                    r.infer(x)  # the turn's first call meets the previous model's caches: not timed
                for k in range(block):
                    s = time.perf_counter()
                    r.infer(x)
                    t[j, i, k] = time.perf_counter() - s
    turns = np.median(t, axis=2)
    first = next(iter(arts))
    rows = {}
    for j, name in enumerate(arts):
        rows[name] = {
            "runtime": arts[name][1],
            "p50_ms": round(float(np.median(t[j])) * 1e3, 3),
            f"speedup_vs_{first}": round(float(np.median(turns[0] / turns[j])), 3),
        }
    return rows, dict(zip(arts, turns, strict=True))


def shared_over_own(rows: dict, turns: dict) -> dict:
    """The two IRs against each other: the ratio of their p50s, and the median of their paired per-turn ratios."""
    own, shared = "own ranges", "shared ranges + hoist"
    return {
        "p50_ratio": round(rows[own]["p50_ms"] / rows[shared]["p50_ms"], 3),
        "paired": round(float(np.median(turns[own] / turns[shared])), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shares", type=float, nargs="+", help="prune.macs values (default: the demo's)")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--calls", type=int, default=600, help="timed calls of each artifact, per block size")
    ap.add_argument("--block", type=int, nargs="+", default=[1, 30], help="calls of one artifact per turn")
    ap.add_argument("--out", type=Path, default=RESULTS / "shared_ranges.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = load_config(ROOT / "configs" / "default.yaml")
    imgsz, pc, grid = cfg.imgsz, cfg.prune, cfg.qat.openvino_weight_grid()
    shares = args.shares or [pc.macs]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        native = export_onnx(STUDENT, work / "native", imgsz, dynamic=True)
        for share in shares:
            d = work / f"share-{share:g}"
            d.mkdir()
            pt, shape = pruned(STUDENT, share, pc.steps, imgsz, pc.round_to, d) if share else (STUDENT, {})
            irs, info = build(pt, imgsz, grid, d)
            arts = {"native FP32 ORT": (native, "onnxruntime")} | {n: (p, "openvino") for n, p in irs.items()}
            kernels = {name: separate_quantize_kernels(ir) for name, ir in irs.items()}
            result = {"macs_removed": shape.get("macs_removed", 0.0), **info, "separate_quantize_kernels": kernels}
            print(
                f"\nprune.macs={share:g} ({shape.get('macs_removed', 0.0):.1%} of the MACs), {args.size} px, batch 1; "
                f"{info['groups']} range groups, rewrite {info['hoist_qdq']}, outputs changed by "
                f"{info['hoist_output_gap']:g}; separate quantize kernels {kernels}"
            )
            result["blocks"] = {}
            for block in args.block:
                rows, turns = interleaved(arts, args.size, args.calls, block)
                gain = shared_over_own(rows, turns)
                result["blocks"][str(block)] = {"rows": rows, "shared_vs_own": gain}
                print(f"{args.calls} calls each, in turns of {block}: shared over own {gain['paired']:.3f}x paired")
                print(f"{'artifact':<24} {'p50 ms':>8} {'vs native':>10}")
                for name, r in rows.items():
                    print(f"{name:<24} {r['p50_ms']:>8.2f} {r['speedup_vs_native FP32 ORT']:>9.2f}x")
            results[f"{share:g}"] = result
    fields = {"student": STUDENT.name, "size": args.size, "calls": args.calls, "blocks": args.block}
    fields["cpu_flags"] = cpu_flags()
    fields |= {"cpu_class": cpu_class(), "openvino_grid": grid, "shares": results}
    write_result(args.out, "shared_ranges", fields, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
