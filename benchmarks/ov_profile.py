"""Where an OpenVINO IR spends its time on this CPU: per-layer profile by kernel and precision.

OpenVINO's CPU plugin reports, per executed node, the kernel it chose (``exec_type``, e.g.
``brgconv_avx512_core_vnni_I8``, ``jit_avx512_FP32``) and its time. Summed by operation type and by
the precision in the kernel's name, it shows how much of an INT8 model still runs in float, and
which layers cost most: the places to look when INT8 is not as fast as it should be.

    .venv/bin/python benchmarks/ov_profile.py IR [IR ...] [--size 640] [--iters 50] [--precision f32|default]
        [--nodes 15]

``IR`` is a folder with a ``model.xml`` (or the ``.xml`` itself). Prints one table per IR; writes
benchmarks/results/ov_profile.json (the machine, CPU flags, the per-type and per-precision totals, and the
``--nodes`` costliest nodes).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.device import cpu_class, cpu_flags

# OpenVINO names a CPU kernel with its precision as a suffix, in either case and either spelling of
# float: ``brgconv_avx512_amx_i8``, ``jit_avx512_FP32``, ``ref_f32``.
_SUFFIX = {
    "i8": "I8",
    "u8": "U8",
    "f32": "FP32",
    "fp32": "FP32",
    "bf16": "BF16",
    "f16": "FP16",
    "fp16": "FP16",
    "i32": "I32",
}


def kernel_precision(exec_type: str) -> str:
    """The precision a CPU kernel ran in, from the suffix of its name (``I8``, ``FP32``, ``BF16``...); else ``-``."""
    m = re.search(r"_([a-z0-9]+)$", exec_type.lower())
    return _SUFFIX.get(m.group(1), "-") if m else "-"


def profile(xml: Path, size: int, iters: int, threads: int, precision: str, nodes: int = 15) -> dict:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(xml)
    model.reshape({model.inputs[0]: [1, 3, size, size]})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True}
    if precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    request = core.compile_model(model, "CPU", config).create_infer_request()
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    for _ in range(5):
        request.infer({0: x})
    by_node: dict[str, dict] = {}
    for _ in range(iters):
        request.infer({0: x})
        for p in request.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            rec = by_node.setdefault(p.node_name, {"type": p.node_type, "exec": p.exec_type, "us": 0.0})
            rec["us"] += p.real_time.total_seconds() * 1e6 / iters
    by_type: dict[str, float] = defaultdict(float)
    by_precision: dict[str, float] = defaultdict(float)
    conv = {"I8/U8": [0, 0.0], "float": [0, 0.0]}
    for rec in by_node.values():
        prec = kernel_precision(rec["exec"])
        by_type[rec["type"]] += rec["us"]
        by_precision[prec] += rec["us"]
        if rec["type"] == "Convolution":
            side = conv["I8/U8" if prec in ("I8", "U8") else "float"]
            side[0] += 1
            side[1] += rec["us"]
    total = sum(r["us"] for r in by_node.values())
    top = sorted(by_node.items(), key=lambda kv: -kv[1]["us"])[:nodes]
    return {
        "ir": str(xml),
        "size": size,
        "precision_hint": precision,
        "total_ms": round(total / 1e3, 3),
        "by_type_ms": {k: round(v / 1e3, 3) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])},
        "by_precision_ms": {k: round(v / 1e3, 3) for k, v in sorted(by_precision.items(), key=lambda kv: -kv[1])},
        "convolutions": {k: {"count": n, "ms": round(us / 1e3, 3)} for k, (n, us) in conv.items()},
        "top_nodes": [{"node": n, **{k: (round(v, 1) if k == "us" else v) for k, v in r.items()}} for n, r in top],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("irs", nargs="+", type=Path)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="f32", help="INFERENCE_PRECISION_HINT (the runner's f32) or default")
    ap.add_argument("--nodes", type=int, default=15, help="how many of the costliest nodes the JSON lists")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ov_profile.json")
    args = ap.parse_args()
    results = []
    for ir in args.irs:
        xml = ir if ir.suffix == ".xml" else next(ir.glob("*.xml"), None)
        if xml is None or not xml.is_file():
            sys.exit(f"{ir}: no OpenVINO IR; give the folder with its model.xml (as qat/openvino/model_int8_openvino)")
        r = profile(xml, args.size, args.iters, args.threads, args.precision, args.nodes)
        results.append(r)
        print(f"\n{xml}  @{args.size}px, {args.threads} threads, hint {args.precision}: {r['total_ms']:.2f} ms summed")
        print("  by precision: " + ", ".join(f"{k} {v:.2f}" for k, v in r["by_precision_ms"].items()))
        print("  by type:      " + ", ".join(f"{k} {v:.2f}" for k, v in list(r["by_type_ms"].items())[:10]))
        c = r["convolutions"]
        print(
            f"  convolutions: {c['I8/U8']['count']} int8 {c['I8/U8']['ms']:.2f} ms, "
            f"{c['float']['count']} float {c['float']['ms']:.2f} ms"
        )
        for t in r["top_nodes"][:10]:
            print(f"    {t['us']:8.1f} us  {t['type']:<14} {t['exec']:<32} {t['node'][:60]}")
    fields = {"cpu_flags": cpu_flags(), "cpu_class": cpu_class(), "threads": args.threads, "profiles": results}
    write_result(args.out, "ov_profile", fields)


if __name__ == "__main__":
    main()
