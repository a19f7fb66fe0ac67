"""``report.json`` (for machines and CI gates) and ``report.md`` (for people), one row per artifact per device."""

from __future__ import annotations

import json
import time
from pathlib import Path

from yolopress import __version__
from yolopress.io import hash_json, write_json, write_text
from yolopress.pipeline import StageContext, StageResult

SCHEMA_VERSION = 1
_REFERENCES = ("teacher", "native")  # every row is compared with these, measured on the same runtime


def device_id(fp: dict) -> str:
    """A short, stable name for a machine: GPU if any, else CPU, plus a hash of the full fingerprint."""
    name = fp.get("gpu") or fp.get("cpu") or "unknown"
    return f"{name} [{hash_json({k: fp.get(k) for k in ('cpu', 'cpu_count', 'gpu', 'hostname')})[:6]}]"


def build_report(bench: dict, title: str, run: str) -> dict:
    """Turn a bench stage's results into the versioned report structure, with deltas vs the references."""
    rows = []
    by_key = {(r["model"], r["runtime"]): r for r in bench["results"]}
    for r in bench["results"]:
        row = {
            "artifact": f"{r['model']}/{r['format']}",
            **{k: r[k] for k in ("model", "runtime", "format", "precision", "params", "gflops", "size_mb", "path")},
            "map50_95": r["accuracy"]["map50_95"],
            "map50": r["accuracy"]["map50"],
            "ap50_95_per_class": r["accuracy"]["ap50_95_per_class"],
            "latency_ms": {k: r["latency"][k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv")},
            "fps": r["latency"]["fps"],
            "threads": r["latency"]["threads"],
        }
        for ref in _REFERENCES:
            other = by_key.get((ref, r["runtime"]))
            if other is not None:
                row[f"vs_{ref}"] = {
                    "map50_95": row["map50_95"] - other["accuracy"]["map50_95"],
                    "latency_ratio": r["latency"]["p50_ms"] / other["latency"]["p50_ms"],
                }
        rows.append(row)
    return {
        "schema_version": SCHEMA_VERSION,
        "yolopress_version": __version__,
        "title": title,
        "run": run,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "split": bench["split"],
        "imgsz": bench["imgsz"],
        "devices": [{"id": device_id(bench["device"]), "fingerprint": bench["device"], "rows": rows}],
    }


def _delta(row: dict, ref: str) -> str:
    d = row.get(f"vs_{ref}")
    if d is None or row["model"] == ref:
        return "–"
    return f"{d['map50_95'] * 100:+.1f} pt, {d['latency_ratio']:.2f}×"


def to_markdown(report: dict) -> str:
    lines = [f"# {report['title']}", ""]
    lines.append(
        f"Run `{report['run']}`, yolopress {report['yolopress_version']}, {report['created']}. "
        f"mAP on the **{report['split']}** split at {report['imgsz']} px; latency is model-only, batch 1, "
        f"median (p50) of timed runs after warm-up. Deltas compare each row with the teacher and the native "
        f"student on the same runtime: mAP50-95 in points, latency as a ratio."
    )
    for dev in report["devices"]:
        fp = dev["fingerprint"]
        lines += ["", f"## {dev['id']}", ""]
        versions = ", ".join(f"{k} {v}" for k, v in fp.get("versions", {}).items() if v)
        lines.append(
            f"{fp.get('cpu')} ({fp.get('cpu_count')} cores){', ' + fp['gpu'] if fp.get('gpu') else ''}; {versions}"
        )
        lines += [
            "",
            "| artifact | runtime | precision | params (M) | GFLOPs | size (MB) | mAP50-95 | mAP50 "
            "| p50 (ms) | p90 (ms) | p99 (ms) | FPS | vs teacher | vs native |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in dev["rows"]:
            lat = r["latency_ms"]
            lines.append(
                f"| {r['artifact']} | {r['runtime']} | {r['precision']} | {r['params'] / 1e6:.2f} | {r['gflops']:.2f} "
                f"| {r['size_mb']:.1f} | {r['map50_95']:.3f} | {r['map50']:.3f} | {lat['p50_ms']:.2f} "
                f"| {lat['p90_ms']:.2f} | {lat['p99_ms']:.2f} | {r['fps']:.0f} "
                f"| {_delta(r, 'teacher')} | {_delta(r, 'native')} |"
            )
    return "\n".join(lines) + "\n"


def run_stage(ctx: StageContext) -> StageResult:
    bench = json.loads(ctx.inputs["bench"].path("results").read_text())
    report = build_report(bench, ctx.cfg.report.title, ctx.cfg.name)
    write_json(ctx.out / "report.json", report)
    write_text(ctx.out / "report.md", to_markdown(report))
    rows = report["devices"][0]["rows"]
    parts = []
    for model in ("teacher", "native"):
        r = next((r for r in rows if r["model"] == model), None)
        if r:
            parts.append(f"{model} {r['map50_95']:.3f}")
    return StageResult(
        {"report_json": "report.json", "report_md": "report.md"},
        {"rows": len(rows)},
        f"{Path(ctx.run_dir) / 'report' / 'report.md'} (mAP50-95 {', '.join(parts)})",
    )
