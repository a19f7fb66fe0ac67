"""Report rows and the report dict, built from bench results with nothing but the standard library.

Kept free of pydantic (the schema that validates them lives in :mod:`yolopress.bench.schema`) so
that a Jetson bundle, which carries only NumPy, OpenCV, TensorRT and cuda-python, writes a
``report.json`` that ``yolopress report`` merges like any other.
"""

from __future__ import annotations

import time

from yolopress import __version__
from yolopress.bench.stats import mean_std, paired
from yolopress.io import hash_json

SCHEMA_VERSION = 6
# every row is compared with these, measured on the same runtime: the teacher, the student trained alone for as many
# epochs (native), and for as many epochs as the whole chain trains it (control, the budget-matched one)
REFERENCES = ("teacher", "native", "control")
SPEED_REFERENCE = ("native", "onnxruntime")  # speed-ups are against the native student in FP32 on ONNX Runtime


def device_id(fp: dict) -> str:
    """A short, stable name for a machine: GPU if any, else CPU, plus a hash of the full fingerprint.

    A bundle's report names its deployment target too, so a dry run of a bundle on the machine that
    made it stays a separate device from that machine's own benchmark.
    """
    name = fp.get("gpu") or fp.get("cpu") or "unknown"
    keys = ("cpu", "cpu_count", "gpu", "hostname") + (("target",) if fp.get("target") else ())
    label = f"{fp['target']}: {name}" if fp.get("target") else name
    return f"{label} [{hash_json({k: fp.get(k) for k in keys})[:6]}]"


def _latency(stats: dict | None) -> dict | None:
    if stats is None:
        return None
    keys = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv", "iters", "batch", "attempt_spread", "noisy")
    return {k: stats[k] for k in keys if k in stats}


def _speedup(lat: dict | None, ref: dict | None) -> float | None:
    return None if not lat or not ref else ref["p50_ms"] / lat["p50_ms"]


def _sizes(r: dict, ref: dict | None) -> dict:
    """Speed at each deployment size, with the speed-up against the reference measured at that size."""
    out = {}
    for size, speed in r.get("sizes", {}).items():
        ref_lat = ((ref or {}).get("sizes") or {}).get(size, {}).get("latency")
        out[int(size)] = {
            "latency_ms": _latency(speed["latency"]),
            "throughput": {int(b): v for b, v in speed.get("throughput", {}).items()},
            "speedup_vs_native_fp32_ort": _speedup(speed["latency"], ref_lat),
        }
    return out


def rows_from_bench(bench: dict) -> list[dict]:
    """bench/results.json entries -> report rows, with deltas against teacher and native on the same runtime."""
    rows = []
    by_key = {(r["model"], r["runtime"]): r for r in bench["results"]}
    for r in bench["results"]:
        row = {
            "artifact": f"{r['model']}/{r['format']}",
            **{k: r[k] for k in ("model", "runtime", "format", "precision", "params", "gflops", "size_mb", "path")},
            "map50_95": r["accuracy"]["map50_95"],
            "map50": r["accuracy"]["map50"],
            "ap50_95_per_class": r["accuracy"]["ap50_95_per_class"],
            "latency_ms": _latency(r["latency"]),
            "e2e_latency_ms": _latency(r.get("e2e_latency")),
            "throughput": {int(b): v for b, v in r.get("throughput", {}).items()},
            "threads": r["latency"].get("threads"),
            "float_precision": r.get("float_precision"),
            "power_w": r.get("power_w"),
            "speedup_vs_native_fp32_ort": _speedup(r["latency"], by_key.get(SPEED_REFERENCE, {}).get("latency")),
            "sizes": _sizes(r, by_key.get(SPEED_REFERENCE)),
        }
        for ref in REFERENCES:
            other = by_key.get((ref, r["runtime"]))
            if other is not None:
                row[f"vs_{ref}"] = {
                    "map50_95": row["map50_95"] - other["accuracy"]["map50_95"],
                    "latency_ratio": r["latency"]["p50_ms"] / other["latency"]["p50_ms"],
                }
        rows.append(row)
    return rows


def seed_rows(benches: dict[int, dict], spread: dict | None = None) -> list[dict]:
    """One report row per (artifact, runtime) over the bench results of several seeds (``{seed: bench}``).

    Accuracy is the mean over seeds (``map50_95_per_seed`` keeps each); a delta against a reference is the
    paired difference over the seeds both rows have, with its 95% CI (None with one seed, where ``spread``,
    the seed-to-seed std of that difference from the last evidence study, ``{model: {ref: std}}``, stands
    beside it instead). Speed, size and FLOPs are those of the first seed's artifacts.
    """
    per_seed = {seed: {(r["artifact"], r["runtime"]): r for r in rows_from_bench(b)} for seed, b in benches.items()}
    first = next(iter(per_seed.values()))
    rows = []
    for key, base in first.items():
        found = {seed: by_key[key] for seed, by_key in per_seed.items() if key in by_key}
        maps = {seed: r["map50_95"] for seed, r in found.items()}
        row = dict(base)
        row["map50_95"], row["map50_95_std"] = mean_std(list(maps.values()))
        row["map50"] = mean_std([r["map50"] for r in found.values()])[0]
        row["map50_95_per_seed"] = maps
        classes = base["ap50_95_per_class"]
        row["ap50_95_per_class"] = {
            c: mean_std([r["ap50_95_per_class"][c] for r in found.values()])[0] for c in classes
        }
        for ref in REFERENCES:
            if base.get(f"vs_{ref}") is None:
                continue
            ref_maps = {
                seed: r["map50_95"]
                for seed, by_key in per_seed.items()
                if (r := _ref_row(by_key, ref, base["runtime"]))
            }
            diff = paired(maps, ref_maps)
            row[f"vs_{ref}"] = {
                "map50_95": diff["mean_diff"],
                "latency_ratio": base[f"vs_{ref}"]["latency_ratio"],
                "ci95": list(diff["ci95"]) if diff["ci95"] else None,
                "n": diff["n"],
                "seed_spread": ((spread or {}).get(base["model"]) or {}).get(ref) if diff["n"] == 1 else None,
            }
        rows.append(row)
    return rows


def _ref_row(by_key: dict, ref: str, runtime: str) -> dict | None:
    """The row a row is compared with: the reference model's on the same runtime."""
    return next((r for r in by_key.values() if r["model"] == ref and r["runtime"] == runtime), None)


def report_dict(bench: dict, title: str, run: str, seeds: dict[int, dict] | None = None, spread=None) -> dict:
    """A bench stage's results (or a bundle's) as a report dict of the current schema version; with ``seeds``
    (``{seed: bench}``, ``bench`` among them), the rows are means over seeds with paired CIs."""
    rows = seed_rows(seeds, spread) if seeds else rows_from_bench(bench)
    return {
        "schema_version": SCHEMA_VERSION,
        "yolopress_version": __version__,
        "title": title,
        "run": run,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "split": bench["split"],
        "imgsz": bench["imgsz"],
        "seeds": sorted(seeds) if seeds else [],
        "devices": [{"id": device_id(bench["device"]), "fingerprint": bench["device"], "rows": rows}],
    }
