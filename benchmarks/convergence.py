"""How many epochs the demo's student needs before its learning curve flattens.

The evidence issue asks for a demo whose native and control curves have flattened: over the last 20% of
epochs the best val mAP50-95 rises by less than half a point (`yolopress.bench.curves.late_rise`). This
trains the native student as the demo does (configs/default.yaml: the shipped initialisation, its lr and
schedule) for each of ``--epochs``, once per seed, and records each run's curve, its late rise, its best val
and its test mAP50-95, and the wall time. Each schedule is a run of its own (the learning rate decays to the
end of whichever length it is given), so a longer run's first epochs are not a shorter run.

Each (epochs, seed) is a cached pipeline run, ``--runs``/convergence-e<epochs> (a rerun fills only the gaps; the
data stage is generated once per run folder, from the same seed).

    .venv/bin/python benchmarks/convergence.py [--epochs 24 48 96] [--seeds 0] [--runs runs]

Prints a table; writes benchmarks/results/convergence.json with the machine (training results depend on
the CPU too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _result import write_result
from evidence import measure

from yolopress.bench.curves import FLAT, late_rise, stage_curve
from yolopress.config import load_config
from yolopress.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def one_run(config: Path, runs: Path, epochs: int, seed: int) -> dict:
    """Train (or reuse) the native student for ``epochs`` with ``seed``; its curve and test mAP."""
    cfg = load_config(config, [f"student.epochs={epochs}", f"seeds=[{seed}]", f"name=convergence-e{epochs}"])
    pipe = Pipeline(cfg, runs)
    pipe.run(until="native", seeds=[seed])
    records = pipe.seed_records[seed]
    rec = records["native"]
    curve = stage_curve("native", rec)
    meta = json.loads((rec.dir / "stage.json").read_text())
    test = measure(rec.path("model"), records["data"].path("data_yaml"), cfg.imgsz)
    return {
        "val_curve": [round(v, 4) for v in curve],
        "late_rise": None if (rise := late_rise(curve)) is None else round(rise, 4),
        "best_val_map50_95": round(max(curve), 4),
        "best_epoch": curve.index(max(curve)) + 1,
        "test_map50_95": round(test["test_map50_95"], 4),
        "val_map50_95": round(test["val_map50_95"], 4),  # the last epoch's model, measured as the evidence study does
        "wall_s": meta["wall_time_s"],
    }


def summarise(runs: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """Per schedule length: the seeds' runs, their means, whether every seed's curve is flat, and, where the
    half-length schedule was run too, what doubling it gained (best val and test mAP50-95)."""
    rows: dict[str, dict] = {}
    for epochs, per_seed in sorted(runs.items()):
        rises = [r["late_rise"] for r in per_seed.values()]
        mean = {k: statistics.fmean(r[k] for r in per_seed.values()) for k in ("best_val_map50_95", "test_map50_95")}
        rows[str(epochs)] = {
            "per_seed": per_seed,
            # under 5 epochs there is no last 20% to look at (late_rise None): never called flat
            "mean_late_rise": round(statistics.fmean(rises), 4) if None not in rises else None,
            "flat": None not in rises and all(r < FLAT for r in rises),
            **{f"mean_{k}": round(v, 4) for k, v in mean.items()},
            "mean_wall_s": round(statistics.fmean(r["wall_s"] for r in per_seed.values()), 1),
        }
    # The flatness test looks inside one schedule, whose decaying rate puts a rise at every schedule's end;
    # doubling the schedule asks the user's question directly: would more training still pay?
    for epochs, r in rows.items():
        half = rows.get(str(int(epochs) // 2))
        if half is not None and int(epochs) % 2 == 0:
            r["vs_half_schedule"] = {
                k: round(r[f"mean_{k}"] - half[f"mean_{k}"], 4) for k in ("best_val_map50_95", "test_map50_95")
            }
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--epochs", type=int, nargs="+", default=[24, 48, 96])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--out", type=Path, default=RESULTS / "convergence.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = {e: {str(s): one_run(args.config, args.runs, e, s) for s in args.seeds} for e in args.epochs}
    rows = summarise(runs)
    print(
        f"{'epochs':>6} {'late rise':>10} {'flat':>5} {'best val':>9} {'test':>7} {'vs E/2':>10} {'wall':>8}"
        f"  (native, seeds {args.seeds}; vs E/2: test gain over half the epochs)"
    )
    for epochs, r in rows.items():
        doubled = r.get("vs_half_schedule")
        gain = f"{100 * doubled['test_map50_95']:>+7.1f} pt" if doubled else f"{'-':>10}"
        rise = "-" if r["mean_late_rise"] is None else f"{100 * r['mean_late_rise']:.1f} pt"
        print(
            f"{epochs:>6} {rise:>10} {'yes' if r['flat'] else 'no':>5} "
            f"{r['mean_best_val_map50_95']:>9.3f} {r['mean_test_map50_95']:>7.3f} {gain} "
            f"{r['mean_wall_s'] / 60:>6.1f} m"
        )
    fields = {"config": str(args.config), "seeds": args.seeds, "flat_below": FLAT, "epochs": rows}
    write_result(args.out, "convergence", fields, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
