"""``report.json`` (for machines and CI gates), ``report.md`` and PNG plots (for people).

One table per device, one row per artifact; reports from several devices (a desktop GPU, a
Jetson, this CPU) merge into one with ``yolopress report A.json B.json -o OUT``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from yolopress import __version__, ui
from yolopress.bench.plots import plot_pareto, plot_stages
from yolopress.bench.rows import report_dict
from yolopress.bench.schema import Device, Report, ReportError, Row, load_report, parse_report
from yolopress.io import atomic_dir, write_json, write_text
from yolopress.stage import StageContext, StageResult


def build_report(bench: dict, title: str, run: str) -> Report:
    """Turn a bench stage's results into a validated report."""
    return parse_report(report_dict(bench, title, run), "bench results")


def merge_reports(reports: list[Report], title: str | None = None) -> Report:
    """One report with every device of every input; a device seen twice keeps its latest report's rows."""
    if not reports:
        raise ReportError("nothing to merge")
    first = reports[0]
    for r in reports[1:]:
        if (r.split, r.imgsz) != (first.split, first.imgsz):
            raise ReportError(
                f"cannot merge report of run {r.run!r} ({r.split} split, {r.imgsz} px) with run {first.run!r} "
                f"({first.split} split, {first.imgsz} px): accuracy would not be comparable"
            )
    devices: dict[str, Device] = {}
    for r in sorted(reports, key=lambda r: r.created):
        for d in r.devices:
            if d.id in devices:
                ui.info(f"device {d.id} appears in several reports: keeping the newest ({r.created})")
            devices[d.id] = d
    return first.model_copy(
        update={
            "title": title or first.title,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "yolopress_version": __version__,
            "devices": list(devices.values()),
        }
    )


def _delta(row: Row, ref: str) -> str:
    d = getattr(row, f"vs_{ref}")
    if d is None or row.model == ref:
        return "–"
    return f"{d.map50_95 * 100:+.1f} pt, {d.latency_ratio:.2f}×"


def _fmt_tput(row: Row) -> str:
    return ", ".join(f"{v:.0f}@{b}" for b, v in sorted(row.throughput.items())) or "–"


def _speed_tables(dev: Device) -> list[str]:
    """One table per deployment size: what a user will see where they deploy, and the speed-up it buys."""
    lines = []
    for size in sorted({s for r in dev.rows for s in r.sizes}):
        rows = [r for r in dev.rows if size in r.sizes]
        batches = sorted({b for r in rows for b in r.sizes[size].throughput})
        lines += [
            "",
            f"### Speed at {size} px",
            "",
            "Model-only latency at batch 1 and throughput (images/s) at each batch size, at the input size of "
            "deployment; speed-up: the native student in FP32 on ONNX Runtime, p50 over this row's p50, both "
            "measured at this size in this run.",
            "",
            "| artifact | runtime | precision | p50 (ms) | p90 (ms) | "
            + " | ".join(f"images/s @{b}" for b in batches)
            + " | speed-up vs native FP32 ORT |",
            "|---|---|---|---:|---:|" + "---:|" * len(batches) + "---:|",
        ]
        for r in rows:
            speed = r.sizes[size]
            warn = " ⚠" if speed.latency_ms.noisy else ""
            tput = " | ".join(f"{speed.throughput[b]:.1f}" if b in speed.throughput else "–" for b in batches)
            up = speed.speedup_vs_native_fp32_ort
            lines.append(
                f"| {r.artifact} | {r.runtime} | {r.precision} | {speed.latency_ms.p50_ms:.2f}{warn} "
                f"| {speed.latency_ms.p90_ms:.2f} | {tput} | {f'{up:.2f}×' if up else '–'} |"
            )
    return lines


def to_markdown(report: Report, plots: dict[str, str] | None = None) -> str:
    lines = [f"# {report.title}", ""]
    lines.append(
        f"Run `{report.run}`, yolopress {report.yolopress_version}, {report.created}. "
        f"mAP on the **{report.split}** split at {report.imgsz} px. Latency: model-only, batch 1, percentiles "
        f"of timed runs after warm-up (⚠ marks a measurement whose spread stayed high); e2e adds letterbox and "
        f"NMS on real images. Throughput: images/s @ batch size. Deltas compare each row with the teacher and "
        f"the native student on the same runtime: mAP50-95 in points, p50 latency as a ratio."
    )
    for dev in report.devices:
        fp = dev.fingerprint
        lines += ["", f"## {dev.id}", ""]
        versions = ", ".join(f"{k} {v}" for k, v in fp.get("versions", {}).items() if v)
        gpu = f", {fp['gpu']}" if fp.get("gpu") else ""
        target = f"target {fp['target']}: " if fp.get("target") else ""
        lines.append(f"{target}{fp.get('cpu')} ({fp.get('cpu_count')} cores){gpu}; {versions}")
        power = any(r.power_w is not None for r in dev.rows)  # a column only where some row was measured
        lines += [
            "",
            "| artifact | runtime | precision | params (M) | GFLOPs | size (MB) | mAP50-95 | mAP50 "
            "| p50 (ms) | p90 (ms) | p99 (ms) | e2e p50 (ms) | throughput | vs teacher | vs native |"
            + (" power (W) |" if power else ""),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|" + ("---:|" if power else ""),
        ]
        for r in dev.rows:
            watts = (f" {r.power_w:.1f} |" if r.power_w is not None else " – |") if power else ""
            lat, e2e = r.latency_ms, r.e2e_latency_ms
            warn = " ⚠" if lat.noisy else ""
            lines.append(
                f"| {r.artifact} | {r.runtime} | {r.precision} | {r.params / 1e6:.2f} | {r.gflops:.2f} "
                f"| {r.size_mb:.1f} | {r.map50_95:.3f} | {r.map50:.3f} | {lat.p50_ms:.2f}{warn} "
                f"| {lat.p90_ms:.2f} | {lat.p99_ms:.2f} | {f'{e2e.p50_ms:.2f}' if e2e else '–'} | {_fmt_tput(r)} "
                f"| {_delta(r, 'teacher')} | {_delta(r, 'native')} |{watts}"
            )
        lines += _speed_tables(dev)
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir: Path) -> dict[str, str]:
    """Write report.json, report.md and the plots into ``out_dir``; return their relative paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "accuracy vs latency": plot_pareto(report, out_dir / "pareto.png"),
        "stage by stage": plot_stages(report, out_dir / "stages.png"),
    }
    plots = {k: Path(v).name for k, v in plots.items() if v is not None}
    write_json(out_dir / "report.json", report.model_dump(mode="json"))
    write_text(out_dir / "report.md", to_markdown(report, plots))
    return {
        "report_json": "report.json",
        "report_md": "report.md",
        **{f"plot_{Path(v).stem}": v for v in plots.values()},
    }


def run_stage(ctx: StageContext) -> StageResult:
    bench = json.loads(ctx.inputs["bench"].path("results").read_text())
    report = build_report(bench, ctx.cfg.report.title, ctx.cfg.name)
    outputs = write_report(report, ctx.out)
    rows = report.devices[0].rows
    parts = []
    for m in dict.fromkeys(r.model for r in rows):  # every model of the run, in pipeline order
        r = next(r for r in rows if r.model == m)
        parts.append(f"{m} {r.map50_95:.3f}")
    return StageResult(
        outputs, {"rows": len(rows)}, f"{ctx.run_dir / 'report' / 'report.md'} (mAP50-95 {', '.join(parts)})"
    )


def merge_files(paths: list[Path], out_dir: Path, title: str | None = None) -> Report:
    """``yolopress report``: merge report.json files (any schema version) into ``out_dir``."""
    merged = merge_reports([load_report(p) for p in paths], title)
    with atomic_dir(out_dir, "-o folder") as tmp:  # all of it or nothing; never into a folder of the user's
        write_report(merged, tmp)
    return merged
