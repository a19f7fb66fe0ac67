"""Learning curves: the validation mAP50-95 of every student training, epoch by epoch, on one axis.

The x axis counts the epochs the student has been trained in all: native and control from 1;
distill from 1 too (it starts from the same point as native); pruning's fine-tuning steps and
recovery continue where distill ended. A curve still rising at its end is a student that more
training would improve: then a comparison with it measures training length, not the method.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from yolopress.stage import StageRecord

_MAP = "metrics/mAP50-95(B)"
CURVE_STAGES = ("native", "control", "distill", "prune")
FLAT = 0.005  # a training whose best val mAP rose less than half a point over its last 20% of epochs has flattened


def read_curve(results_csv: Path) -> list[float]:
    """Val mAP50-95 per epoch from an Ultralytics ``results.csv`` (empty if it is missing or has no such column)."""
    if not results_csv.is_file():
        return []
    with results_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [float(r[_MAP]) for r in rows if r.get(_MAP) not in (None, "")]


def stage_curve(name: str, rec: StageRecord) -> list[float]:
    """One stage's val mAP per epoch; prune's are its steps' fine-tuning runs, in order."""
    if name == "prune":
        steps = sorted(rec.dir.glob("step*/train/results.csv"), key=lambda p: int(p.parts[-3][4:]))
        return [v for p in steps for v in read_curve(p)]
    return read_curve(rec.dir / "train" / "results.csv")


def curves(records: dict[str, StageRecord]) -> dict[str, tuple[int, list[float]]]:
    """``{stage: (first epoch, [val mAP per epoch])}`` for the student stages in ``records``."""
    out = {}
    for name in CURVE_STAGES:
        if name in records and (values := stage_curve(name, records[name])):
            start = len(out["distill"][1]) + 1 if name == "prune" and "distill" in out else 1
            out[name] = (start, values)
    return out


def mean_curves(per_seed: list[dict[str, tuple[int, list[float]]]]) -> dict[str, tuple[int, list[float]]]:
    """The epoch-by-epoch mean over seeds (as long as the shortest seed's curve)."""
    out = {}
    for name in CURVE_STAGES:
        found = [c[name] for c in per_seed if name in c]
        if found:
            n = min(len(v) for _, v in found)
            out[name] = (found[0][0], [statistics.fmean(v[i] for _, v in found) for i in range(n)])
    return out


def late_rise(values: list[float], share: float = 0.2) -> float | None:
    """How much the best value rose over the last ``share`` of the epochs (under :data:`FLAT` counts as
    flat). None for fewer than 5 epochs."""
    if len(values) < 5:
        return None
    cut = len(values) - max(1, round(share * len(values)))
    return max(values) - max(values[:cut])


def plot_curves(data: dict[str, tuple[int, list[float]]], path: Path, title: str) -> str | None:
    """Val mAP50-95 against the student's cumulative epochs, one line per stage."""
    if not data:
        return None
    from yolopress.bench.plots import plt, save

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (start, values) in data.items():
        ax.plot(range(start, start + len(values)), values, marker=".", label=name)
    ax.set_xlabel("epochs the student has trained (prune continues after distill)")
    ax.set_ylabel("val mAP50-95")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, path)
