"""The same seed trained on two CPU families: how far apart do the results land?

The evidence study's per-seed results record the CPU that trained them. Where a study run on this
machine retrained a main-chain stage (native, distill, prune) for a seed whose cached result came
from another CPU family, both exist: this measures the local checkpoint exactly as the study does
(test and val mAP50-95 through the bench's runners) and sets it beside the cached one.

    .venv/bin/python benchmarks/cross_cpu.py [--run runs/evidence] [--seeds 2]

A rerun of a seed on the same CPU family repeats bit for bit; a difference here is the effect of the
CPU's numerical path (oneDNN kernels, vector width) on training, the size that one-seed comparisons
across machines must be read against. Writes benchmarks/results/cross_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _result import write_result
from evidence import RESULTS, ROOT, measure

from yolopress.bench.device import cpu_class
from yolopress.config import load_config

STAGE_ARM = {"native": "native", "distill": "distill", "prune": "prune_kd"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/evidence"))
    ap.add_argument("--seeds", nargs="+", type=int, default=[2])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "cross_cpu.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    here = cpu_class()
    data_yaml = args.run / "data" / json.loads((args.run / "data" / "stage.json").read_text())["outputs"]["data_yaml"]
    imgsz = load_config(ROOT / "configs" / "evidence.yaml").imgsz
    rows = []
    for seed in args.seeds:
        for stage, arm in STAGE_ARM.items():
            meta = args.run / f"seed-{seed}" / stage / "stage.json"
            cached = RESULTS / "evidence" / arm / f"seed-{seed}.json"
            if not meta.is_file() or not cached.is_file():
                continue
            other = json.loads(cached.read_text())
            there = cpu_class(other["machine"]["cpu_flags"])
            if there == here:
                continue  # same family: bit for bit, nothing to learn
            local = measure(meta.parent / json.loads(meta.read_text())["outputs"]["model"], data_yaml, imgsz)
            rows.append(
                {
                    "seed": seed,
                    "stage": stage,
                    "arm": arm,
                    "cpus": [here, there],
                    "test_map50_95": [local["test_map50_95"], other["test_map50_95"]],
                    "val_map50_95": [local["val_map50_95"], other["val_map50_95"]],
                    "test_diff": local["test_map50_95"] - other["test_map50_95"],
                    "val_diff": local["val_map50_95"] - other["val_map50_95"],
                }
            )
    if not rows:
        print(f"nothing to compare: no seed of {args.seeds} in {args.run} has a cached result from another CPU")
        return 2
    print(f"\nsame seed, two CPU families: mAP50-95 on this {here} CPU / the cached one's; diff in points")
    print(f"{'seed':>4} {'stage':<8} {'other CPU':>9} {'test':>15} {'diff':>6} {'val':>15} {'diff':>6}")
    for r in rows:
        t, v = r["test_map50_95"], r["val_map50_95"]
        print(
            f"{r['seed']:>4} {r['stage']:<8} {r['cpus'][1]:>9} {t[0]:.4f}/{t[1]:.4f} {100 * r['test_diff']:>+6.2f} "
            f"{v[0]:.4f}/{v[1]:.4f} {100 * r['val_diff']:>+6.2f}"
        )
    write_result(args.out, "cross_cpu", {"run": str(args.run), "cpu_class": here, "rows": rows}, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
