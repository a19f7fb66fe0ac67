"""The same seed trained on two CPU families (or thread counts): how far apart do the results land?

The evidence study's per-seed results record the CPU that trained them. Where a study run on this
machine retrained a main-chain stage (native, distill, prune) for a seed whose cached result came
from another CPU family, both exist: this measures the local checkpoint exactly as the study does
(test and val mAP50-95 through the bench's runners) and sets it beside the cached one.

    .venv/bin/python benchmarks/cross_cpu.py [--run runs/evidence] [--seeds 2]

A rerun of a seed on the same CPU family with the same training threads repeats bit for bit; a difference
here is the effect of the CPU's numerical path (oneDNN kernels, vector width, how reductions are split over
threads) on training, the size that one-seed comparisons across machines must be read against.
With several seeds it also sets the study's paired comparisons (distill vs native, vs control, the prune
and the INT8 artifact vs control) as trained here beside the same seeds' cached ones: whether a gain holds
on this CPU, with its own 95% CI. Writes benchmarks/results/cross_cpu.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _result import write_result
from evidence import RESULTS, ROOT, measure

from yolopress.bench.device import cpu_class, fingerprint
from yolopress.bench.stats import describe, paired
from yolopress.config import load_config

# stage -> (the study's arm, the stage output it measures)
STAGE_ARM = {
    "native": ("native", "model"),
    "control": ("control", "model"),
    "distill": ("distill", "model"),
    "prune": ("prune_kd", "model"),
    "qat": ("qat", "openvino"),
}
# the study's comparisons that a main-chain run can repeat: (arm, against)
PAIRS = [("distill", "native"), ("distill", "control"), ("control", "native"), ("prune_kd", "control"),
         ("qat", "control")]  # fmt: skip


def _where(cpu: str | None, flags: list[str] | None, threads: int) -> tuple[str, str, int]:
    """What a training's numerical path depends on: the CPU (two CPUs of one class still differ, e.g. an AMD
    and an Intel with VNNI), its class and the training threads."""
    return (cpu or "?", cpu_class(flags), threads)


def _stage_threads(metrics: dict) -> int:
    """The training threads a stage recorded (qat per target, prune per step); 1 before yolopress set them."""
    parts = [*(metrics.get("targets") or {}).values(), *(metrics.get("steps") or [])]
    per_part = [t.get("threads") for t in parts if isinstance(t, dict)]
    return metrics.get("threads") or next((n for n in per_part if n), None) or 1


def gains(rows: list[dict]) -> dict:
    """The study's paired comparisons over the seeds that have both arms, here and on the cached CPU."""
    out = {}
    for side, i in (("here", 0), ("cached", 1)):
        by_arm: dict[str, dict] = {}
        for r in rows:
            by_arm.setdefault(r["arm"], {})[r["seed"]] = r["test_map50_95"][i]
        out[side] = {f"{a}-{b}": paired(by_arm[a], by_arm[b]) for a, b in PAIRS if a in by_arm and b in by_arm}
    return out


def _trained_seed(meta: Path) -> int | None:
    """The student seed a stage trained with, from its key."""
    return json.loads(meta.read_text())["key_parts"]["extra"].get("seed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/evidence"))
    ap.add_argument("--seeds", nargs="+", type=int, default=[2])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "cross_cpu.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    fp = fingerprint()
    data_yaml = args.run / "data" / json.loads((args.run / "data" / "stage.json").read_text())["outputs"]["data_yaml"]
    imgsz = load_config(ROOT / "configs" / "evidence.yaml").imgsz
    rows = []
    for seed in args.seeds:
        for stage, (arm, output) in STAGE_ARM.items():
            # a several-seed run keeps each seed in seed-<n>/; a one-seed run (make deploy's) keeps the flat layout
            seed_dir = args.run / f"seed-{seed}" if (args.run / f"seed-{seed}").is_dir() else args.run
            meta = seed_dir / stage / "stage.json"
            if meta.is_file() and _trained_seed(meta) != seed:
                continue
            cached = RESULTS / "evidence" / arm / f"seed-{seed}.json"
            if not meta.is_file() or not cached.is_file():
                continue
            other, stage_meta = json.loads(cached.read_text()), json.loads(meta.read_text())
            # where and how: the CPU family and the training threads (1 before yolopress set them)
            threads = _stage_threads(stage_meta["metrics"])
            mine = _where(fp.get("cpu"), fp.get("cpu_flags"), threads)
            m = other["machine"]
            there = _where(m.get("cpu"), m.get("cpu_flags"), m.get("train_threads") or 1)
            if there == mine:
                continue  # same CPU and threads: bit for bit, nothing to learn
            local = measure(meta.parent / stage_meta["outputs"][output], data_yaml, imgsz)
            rows.append(
                {
                    "seed": seed,
                    "stage": stage,
                    "arm": arm,
                    "cpus": [f"{mine[0]} ({mine[1]})", f"{there[0]} ({there[1]})"],
                    "train_threads": [mine[2], there[2]],
                    "test_map50_95": [local["test_map50_95"], other["test_map50_95"]],
                    "val_map50_95": [local["val_map50_95"], other["val_map50_95"]],
                    "test_diff": local["test_map50_95"] - other["test_map50_95"],
                    "val_diff": local["val_map50_95"] - other["val_map50_95"],
                }
            )
    if not rows:
        print(f"nothing to compare: no seed of {args.seeds} in {args.run} has a cached result from another CPU")
        return 2
    print("\nsame seed, two CPUs or thread counts: test and val mAP50-95 here / the cached one's; diff in points")
    print(f"{'seed':>4} {'stage':<8} {'here':>28} {'cached':>28} {'test':>15} {'diff':>6} {'val':>15} {'diff':>6}")
    for r in rows:
        t, v = r["test_map50_95"], r["val_map50_95"]
        where = [f"{c},{n}t" for c, n in zip(r["cpus"], r["train_threads"], strict=True)]
        print(
            f"{r['seed']:>4} {r['stage']:<8} {where[0]:>28} {where[1]:>28} {t[0]:.4f}/{t[1]:.4f} "
            f"{100 * r['test_diff']:>+6.2f} "
            f"{v[0]:.4f}/{v[1]:.4f} {100 * r['val_diff']:>+6.2f}"
        )
    summary = gains(rows)
    print("\nthe study's comparisons on the same seeds, test mAP50-95 in points [95% CI]: trained here | cached")
    for pair, diff in summary["here"].items():
        print(f"  {pair:<20} {describe(diff):<48} | {describe(summary['cached'].get(pair))}")
    fields = {"run": str(args.run), "cpu_class": cpu_class(), "rows": rows, "gains": summary}
    write_result(args.out, "cross_cpu", fields, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
