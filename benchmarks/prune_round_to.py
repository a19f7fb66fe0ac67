"""Why ``prune.round_to`` defaults to 8: CPU latency of the same MACs cut with exact and with rounded channel counts.

Prunes the distilled student of a finished ``make deploy`` run by ``--ratio`` of its MACs (no
fine-tuning: latency depends on the architecture only) with ``round_to`` None, 8 and 16, exports
each and the unpruned model to ONNX and OpenVINO, and times all of them model-only at batch 1 in
alternating rounds (median over rounds). Prints a table; writes benchmarks/results/prune_round_to.json.

    .venv/bin/python benchmarks/prune_round_to.py [--ratio 0.3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.compress.prune import count_macs
from yolopress.compress.prune_stage import load_model, prune_checkpoint
from yolopress.config import load_config
from yolopress.export.onnx import export_onnx
from yolopress.export.openvino import export_openvino
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=RESULTS / "prune_round_to.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = load_config(args.config)
    src = args.runs_dir / cfg.name / "distill" / "model.pt"
    if not src.is_file():
        print(f"no distilled student at {src}: run `make deploy` first")
        return 2
    work = args.runs_dir / "prune-round-to"
    imgsz = cfg.imgsz
    base = count_macs(load_model(src), imgsz)[0]
    models = {"unpruned": {"pt": src, "round_to": None, "macs": base}}
    for r in (None, 8, 16):
        pt = work / f"round{r}" / "model.pt"
        pt.parent.mkdir(parents=True, exist_ok=True)
        meta = prune_checkpoint(src, pt, int(base * (1 - args.ratio)), imgsz, round_to=r)
        models[f"round_to={r}"] = {"pt": pt, "round_to": r, "macs": meta["macs_after"]}
    paths = {}
    for name, m in models.items():
        d = work / "export" / name
        paths[name] = {"onnxruntime": export_onnx(m["pt"], d, imgsz), "openvino": export_openvino(m["pt"], d, imgsz)}
        (d / "model.pt").unlink(missing_ok=True)
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    samples = {name: {rt: [] for rt in ("onnxruntime", "openvino")} for name in models}
    for _ in range(args.rounds):
        for name in models:
            for rt, path in paths[name].items():
                with load_runner(path, rt, imgsz) as runner:
                    samples[name][rt].append(
                        model_latency(runner, x, LatencySettings(min_iters=100, min_time_s=1.5))["p50_ms"]
                    )
    rows = []
    print(f"\n{'model':<16} {'MACs removed':>12} {'ORT ms':>7} {'vs unpr.':>8} {'OV ms':>7} {'vs unpr.':>8}")
    ref = {rt: statistics.median(v) for rt, v in samples["unpruned"].items()}
    for name, m in models.items():
        p50 = {rt: statistics.median(v) for rt, v in samples[name].items()}
        row = {
            "model": name,
            "round_to": m["round_to"],
            "macs_removed": round(1 - m["macs"] / base, 4),
            "p50_ms": p50,
            "rounds_ms": samples[name],
            "vs_unpruned": {rt: round(p50[rt] / ref[rt], 3) for rt in p50},
        }
        rows.append(row)
        vs = row["vs_unpruned"]
        print(
            f"{name:<16} {row['macs_removed']:>12.1%} {p50['onnxruntime']:>7.3f} {vs['onnxruntime']:>7.2f}x "
            f"{p50['openvino']:>7.3f} {vs['openvino']:>7.2f}x"
        )
    write_result(
        args.out,
        "prune_round_to",
        {
            "ratio": args.ratio,
            "imgsz": imgsz,
            "latency": f"model-only p50, batch 1, median of {args.rounds} alternating rounds",
            "rows": rows,
        },
        t0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
