"""CPU training on one thread (Ultralytics' choice on a 2-core machine) against every core (yolopress' default).

Ultralytics sets torch to ``os.cpu_count() - 1`` threads, to leave a core to its data-loader workers, and then
loads CPU batches in the main process (``workers=0``) anyway: on the 2-core machines this project runs on, every
training used one core. yolopress now sets ``student.threads`` / ``teacher.threads`` (null: every core). This
trains the demo's ``native`` and ``distill`` stages for a few epochs at each thread count, side by side in one
run, as a user would (``yolopress <stage> configs/default.yaml``), and compares the median training step and
the stage's wall time.

    .venv/bin/python benchmarks/train_threads.py [--epochs 2] [--stages native distill]

Each thread count is bit for bit repeatable on one CPU family; across thread counts the results differ as
across CPUs (the float reductions split differently), which ``benchmarks/cross_cpu.py``-style checks measure.
Writes benchmarks/results/train_threads.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _result import write_result

from yolopress.bench.device import cpu_class
from yolopress.train import cpu_threads

ROOT = Path(__file__).resolve().parents[1]


def run_stage(stage: str, threads: int, epochs: int, runs: Path) -> dict:
    cmd = [
        str(Path(sys.executable).with_name("yolopress")),
        stage,
        str(ROOT / "configs" / "default.yaml"),
        f"student.epochs={epochs}",
        f"student.threads={threads}",
        "--runs-dir",
        str(runs),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"train_threads: {' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    meta = json.loads(next(runs.glob(f"*/{stage}/stage.json")).read_text())
    m = meta["metrics"]
    return {
        "threads": m["threads"],
        "step_time_ms": round(m["step_time_ms"], 1),
        "teacher_forward_ms": round(m["teacher_forward_ms"], 1) if m.get("teacher_forward_ms") else None,
        "stage_wall_s": round(meta["wall_time_s"], 1),
        "val_map50_95": m["val_map50_95"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--stages", nargs="+", default=["native", "distill"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_threads.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    every = cpu_threads()
    if every < 2:
        sys.exit("train_threads: this machine gives the process one core; there is nothing to compare")
    rows = []
    print(f"{'stage':8} {'threads':>7} {'step ms':>8} {'teacher ms':>10} {'stage s':>8} {'val mAP':>8}")
    for stage in args.stages:
        for threads in (1, every):
            with tempfile.TemporaryDirectory() as tmp:
                row = {"stage": stage, **run_stage(stage, threads, args.epochs, Path(tmp))}
            rows.append(row)
            teacher = f"{row['teacher_forward_ms']:.0f}" if row["teacher_forward_ms"] else "-"
            print(
                f"{stage:8} {threads:>7} {row['step_time_ms']:>8.0f} {teacher:>10} {row['stage_wall_s']:>8.1f} "
                f"{row['val_map50_95']:>8.3f}",
                flush=True,
            )
    speedups = {}
    for stage in args.stages:
        one, all_ = (r for r in rows if r["stage"] == stage)
        speedups[stage] = {
            "step": round(one["step_time_ms"] / all_["step_time_ms"], 2),
            "stage_wall": round(one["stage_wall_s"] / all_["stage_wall_s"], 2),
        }
        print(f"{stage}: {speedups[stage]['step']}x per step, {speedups[stage]['stage_wall']}x stage wall time")
    write_result(
        args.out,
        "train_threads",
        {"cpu_class": cpu_class(), "epochs": args.epochs, "rows": rows, "speedup_all_vs_1": speedups},
        t0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
