"""The report's plots: accuracy against latency (with the Pareto front) and the stage-by-stage path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from yolopress.bench.schema import Report, Row  # noqa: E402
from yolopress.io import atomic_file  # noqa: E402
from yolopress.stage import MODEL_STAGES  # noqa: E402

_MARKERS = {"torch": "o", "onnxruntime": "s", "openvino": "^", "tensorrt": "D"}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both latency (lower) and accuracy (higher), by latency."""
    front, best = [], float("-inf")
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((lat, acc))
            best = acc
    return front


def save(fig, path: Path) -> str:
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def _stage_order(model: str) -> int:
    return MODEL_STAGES.index(model) if model in MODEL_STAGES else len(MODEL_STAGES)


def deployment_points(dev, train_imgsz: int) -> tuple[int, list[tuple[Row, float]]]:
    """(size, [(row, p50 ms)]) at the largest deployment size this device was timed at, else the training size."""
    sizes = {s for r in dev.rows for s in r.sizes}
    if not sizes:
        return train_imgsz, [(r, r.latency_ms.p50_ms) for r in dev.rows]
    size = max(sizes)
    return size, [(r, r.sizes[size].latency_ms.p50_ms) for r in dev.rows if size in r.sizes]


def plot_pareto(report: Report, path: Path) -> str | None:
    """mAP50-95 (at the training size) against p50 latency at the deployment size, one panel per device,
    Pareto front drawn."""
    if not any(d.rows for d in report.devices):
        return None
    n = len(report.devices)
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4.5), squeeze=False)
    models = sorted({r.model for d in report.devices for r in d.rows}, key=_stage_order)
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    for ax, dev in zip(axes[0], report.devices, strict=True):
        size, points = deployment_points(dev, report.imgsz)
        for r, lat in points:
            ax.scatter(lat, r.map50_95, color=colors[r.model], marker=_MARKERS.get(r.runtime, "x"), s=50)
        front = pareto_front([(lat, r.map50_95) for r, lat in points])
        ax.plot(*zip(*front, strict=True), "--", color="grey", lw=1, label="Pareto front")
        # legend: colour = model (stage), marker = runtime; a model's artifacts share a colour
        for m in sorted({r.model for r, _ in points}, key=_stage_order):
            ax.scatter([], [], color=colors[m], marker="o", label=m)
        for rt in sorted({r.runtime for r, _ in points}):
            ax.scatter([], [], color="grey", marker=_MARKERS.get(rt, "x"), label=rt)
        ax.set_xscale("log")
        ax.set_xlabel(f"p50 latency at {size} px, batch 1 (ms, log scale)")
        ax.set_ylabel(f"mAP50-95 ({report.split} split)")
        ax.set_title(dev.id, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never hides a point
    fig.suptitle(f"{report.title}: accuracy vs latency")
    return save(fig, path)


def plot_stages(report: Report, path: Path) -> str | None:
    """How mAP50-95 and latency move from stage to stage (first device, every runtime)."""
    dev = next((d for d in report.devices if d.rows), None)
    if dev is None:
        return None
    models = sorted({r.model for r in dev.rows}, key=_stage_order)
    runtimes = sorted({r.runtime for r in dev.rows})
    by: dict[tuple[str, str], Row] = {(r.model, r.runtime): r for r in dev.rows}
    fig, (ax_acc, ax_lat) = plt.subplots(1, 2, figsize=(11, 4))
    xs = range(len(models))
    for rt in runtimes:
        acc = [by[(m, rt)].map50_95 if (m, rt) in by else float("nan") for m in models]
        lat = [by[(m, rt)].latency_ms.p50_ms if (m, rt) in by else float("nan") for m in models]
        ax_acc.plot(xs, acc, marker=_MARKERS.get(rt, "x"), label=rt)
        ax_lat.plot(xs, lat, marker=_MARKERS.get(rt, "x"), label=rt)
    for ax, label in ((ax_acc, f"mAP50-95 ({report.split} split)"), (ax_lat, "p50 latency, batch 1 (ms)")):
        ax.set_xticks(list(xs), models)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report.title}: stage by stage on {dev.id}", fontsize=10)
    return save(fig, path)
