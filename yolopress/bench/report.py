"""``report.json`` (for machines and CI gates), ``report.md`` and PNG plots (for people).

One table per device, one row per artifact; reports from several devices (a desktop GPU, a
Jetson, this CPU) merge into one with ``yolopress report A.json B.json -o OUT``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from yolopress import __version__, ui
from yolopress.bench.curves import CURVE_STAGES, FLAT, curves, late_rise, mean_curves, plot_curves
from yolopress.bench.plots import plot_pareto, plot_stages
from yolopress.bench.rows import report_dict
from yolopress.bench.schema import Device, Report, ReportError, Row, load_report, parse_report
from yolopress.bench.stats import describe, paired
from yolopress.guard import evidence_spread, guard_on, verdict
from yolopress.io import atomic_dir, write_json, write_text
from yolopress.stage import StageContext, StageResult


def build_report(bench: dict, title: str, run: str, seeds: dict[int, dict] | None = None, spread=None) -> Report:
    """Turn a bench stage's results (``seeds``: every seed's, ``{seed: bench}``) into a validated report."""
    return parse_report(report_dict(bench, title, run, seeds, spread), "bench results")


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
    """mAP change in points with its 95% CI over seeds (or, with one seed, the spread seeds gave it in the last
    evidence study), and the latency ratio."""
    d = getattr(row, f"vs_{ref}")
    if d is None or row.model == ref:
        return "–"
    text = f"{d.map50_95 * 100:+.1f} pt"
    if d.ci95 is not None:
        text += f" [{d.ci95[0] * 100:+.1f}, {d.ci95[1] * 100:+.1f}]"
        if d.ci95[0] <= 0 <= d.ci95[1]:
            text += " n.s."
    elif d.seed_spread is not None:
        text += f" (1 seed; ±{d.seed_spread * 100:.1f} over seeds)"
    return f"{text}, {d.latency_ratio:.2f}×"


def _precision(r) -> str:
    """The row's precision, and what its float operations ran in where that is not f32 (an INT8 IR in bf16)."""
    if r.float_precision in (None, "f32"):
        return r.precision
    return f"{r.precision} ({r.float_precision} float ops)"


def _accuracy(row: Row) -> str:
    return f"{row.map50_95:.3f}" + (f" ± {row.map50_95_std:.3f}" if row.map50_95_std is not None else "")


def seed_note(report: Report, spread: dict | None = None) -> str:
    """What the accuracy columns rest on, in words: how many seeds, and what a delta without an interval means."""
    if len(report.seeds) > 1:
        return (
            f"**{len(report.seeds)} seeds** ({', '.join(map(str, report.seeds))}): mAP is the mean ± standard "
            f"deviation over seeds; a delta is the mean of the per-seed (paired) differences with its 95% "
            f"confidence interval in brackets; **n.s.** (no significant difference) where the interval spans 0."
        )
    where = (
        f" In the last evidence study ({spread.get('source', 'benchmarks/results/evidence.json')}, "
        f"{spread.get('seeds', '?')} seeds, {spread.get('cpu', 'unknown CPU')}) the same differences moved by the "
        f"± shown beside them from seed to seed."
        if spread and spread.get("spread")
        else " No evidence study has measured the seed-to-seed spread of these differences yet."
    )
    return (
        "**One seed.** Every delta below is one training run's: it proves the pipeline works, not that a method "
        "gains anything. Run with `seeds: [0, 1, 2]` for means and confidence intervals." + where
    )


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
            "measured at this size in this run. Timed here: the native student (the reference) and what the chain "
            "deploys; `bench.deployment_models` lists others to time.",
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
                f"| {r.artifact} | {r.runtime} | {_precision(r)} | {speed.latency_ms.p50_ms:.2f}{warn} "
                f"| {speed.latency_ms.p90_ms:.2f} | {tput} | {f'{up:.2f}×' if up else '–'} |"
            )
    return lines


def guard_lines(verdicts: dict) -> list[str]:
    """The distillation guard's verdict per seed (``{seed: Verdict}``), and over seeds the paired val difference."""
    if not verdicts:
        return []
    lines = [
        "",
        "## Distillation guard",
        "",
        "The distilled student against the native one on the val split; "
        "the better one is the student that prune and qat start from (docs/distillation.md).",
        "",
    ]
    lines += [f"- seed {s}: {v.words()}" for s, v in verdicts.items()]
    if len(verdicts) > 1:
        diff = paired({s: v.distill_val for s, v in verdicts.items()}, {s: v.native_val for s, v in verdicts.items()})
        lines.append(f"- over {len(verdicts)} seeds, distill - native on val: {describe(diff)}")
    return lines


def convergence_lines(data: dict) -> list[str]:
    """Whether each student training had flattened: the rise of its best val mAP over its last 20% of epochs."""
    lines = []
    for name, (_, values) in data.items():
        rise = late_rise(values)
        if rise is not None:
            verdict = "flat" if rise < FLAT else "**still rising**: more epochs would change this comparison"
            lines.append(
                f"- {name}: +{rise * 100:.1f} pt over its last {max(1, round(0.2 * len(values)))} of "
                f"{len(values)} epochs ({verdict})"
            )
    if not lines:
        return []
    return [
        "",
        "## Convergence",
        "",
        f"Best val mAP50-95 gained in the last 20% of each training (flat: < "
        f"{FLAT * 100:.1f} pt); see the learning curves below.",
        "",
        *lines,
    ]


def to_markdown(
    report: Report,
    plots: dict[str, str] | None = None,
    spread: dict | None = None,
    curves: dict | None = None,
    guard: dict | None = None,
) -> str:
    lines = [f"# {report.title}", ""]
    lines.append(
        f"Run `{report.run}`, yolopress {report.yolopress_version}, {report.created}. "
        f"mAP on the **{report.split}** split at {report.imgsz} px. Latency: model-only, batch 1, percentiles "
        f"of timed runs after warm-up (⚠ marks a measurement whose spread stayed high); e2e adds letterbox and "
        f"NMS on real images. Throughput: images/s @ batch size. Deltas compare each row with the teacher, "
        f"the native student (same epochs) and the control (the student trained alone for the whole chain's "
        f"epochs) on the same runtime: mAP50-95 in points, p50 latency as a ratio."
    )
    lines += ["", seed_note(report, spread)]
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
            "| p50 (ms) | p90 (ms) | p99 (ms) | e2e p50 (ms) | throughput | vs teacher | vs native | vs control |"
            + (" power (W) |" if power else ""),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|" + ("---:|" if power else ""),
        ]
        for r in dev.rows:
            watts = (f" {r.power_w:.1f} |" if r.power_w is not None else " – |") if power else ""
            lat, e2e = r.latency_ms, r.e2e_latency_ms
            warn = " ⚠" if lat.noisy else ""
            lines.append(
                f"| {r.artifact} | {r.runtime} | {_precision(r)} | {r.params / 1e6:.2f} | {r.gflops:.2f} "
                f"| {r.size_mb:.1f} | {_accuracy(r)} | {r.map50:.3f} | {lat.p50_ms:.2f}{warn} "
                f"| {lat.p90_ms:.2f} | {lat.p99_ms:.2f} | {f'{e2e.p50_ms:.2f}' if e2e else '–'} | {_fmt_tput(r)} "
                f"| {_delta(r, 'teacher')} | {_delta(r, 'native')} | {_delta(r, 'control')} |{watts}"
            )
        lines += _speed_tables(dev)
    lines += guard_lines(guard or {})
    lines += convergence_lines(curves or {})
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()]
    return "\n".join(lines) + "\n"


def write_report(
    report: Report, out_dir: Path, curves: dict | None = None, spread: dict | None = None, guard: dict | None = None
) -> dict[str, str]:
    """Write report.json, report.md and the plots (``curves``: the learning curves, see
    :mod:`yolopress.bench.curves`; ``guard``: the distillation guard's verdict per seed) into ``out_dir``;
    return their relative paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = f", mean of {len(report.seeds)} seeds" if len(report.seeds) > 1 else ""
    plots = {
        "accuracy vs latency": plot_pareto(report, out_dir / "pareto.png"),
        "stage by stage": plot_stages(report, out_dir / "stages.png"),
        "learning curves": plot_curves(curves or {}, out_dir / "curves.png", f"{report.title}: learning curves{seeds}"),
    }
    plots = {k: Path(v).name for k, v in plots.items() if v is not None}
    write_json(out_dir / "report.json", report.model_dump(mode="json"))
    write_text(out_dir / "report.md", to_markdown(report, plots, spread, curves, guard))
    return {
        "report_json": "report.json",
        "report_md": "report.md",
        **{f"plot_{Path(v).stem}": v for v in plots.values()},
    }


def _by_seed(inputs: dict, seeds: list[int], stage: str) -> dict[int, object]:
    """A stage's record for each seed: inputs are named ``stage`` (one seed) or ``stage/seed-<n>``."""
    if len(seeds) == 1:
        return {seeds[0]: inputs[stage]} if stage in inputs else {}
    return {s: inputs[f"{stage}/seed-{s}"] for s in seeds if f"{stage}/seed-{s}" in inputs}


def run_stage(ctx: StageContext) -> StageResult:
    seeds = ctx.cfg.student_seeds
    benches = {
        s: json.loads(rec.path("results").read_text()) for s, rec in _by_seed(ctx.inputs, seeds, "bench").items()
    }
    spread, on = evidence_spread(), guard_on(ctx.cfg)
    report = build_report(benches[seeds[0]], ctx.cfg.report.title, ctx.cfg.name, benches, spread.get("spread"))
    per_seed = [
        curves({name: rec for name in CURVE_STAGES if (rec := _by_seed(ctx.inputs, seeds, name).get(s))}) for s in seeds
    ]
    verdicts = {
        s: v
        for s in seeds
        if (v := verdict({n: r for n in ("native", "distill") if (r := _by_seed(ctx.inputs, seeds, n).get(s))}, on))
    }
    outputs = write_report(report, ctx.out, mean_curves(per_seed), spread, verdicts)
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
