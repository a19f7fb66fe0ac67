"""Device bundles of a finished run: size, time to make, and the bundle's own ONNX Runtime check against bench.

For each target file, makes the bundle (`yolopress bundle`), runs its `run.py --runtime onnxruntime`
in a fresh process (the bundle's code, its sample, its decode/NMS/mAP: everything the device runs
except TensorRT), and puts its mAP beside the bench stage's row for the same model on the same
split. TensorRT itself is not available here; this checks what travels to the device.

    .venv/bin/python benchmarks/bundle_check.py [--config configs/default.yaml] [--targets orin-nano t4]

Prints a table; writes benchmarks/results/bundle_check.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _result import write_result

from yolopress.bundle import make_bundle, needed_stage
from yolopress.config import load_config
from yolopress.pipeline import Pipeline
from yolopress.targets import available, load_target

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--targets", nargs="+", default=available())
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--work", type=Path, default=Path("bundles/.bundle_check"))
    ap.add_argument("--out", type=Path, default=RESULTS / "bundle_check.json")
    args = ap.parse_args()
    t_all = time.perf_counter()
    cfg = load_config(args.config)
    rows = []
    for name in args.targets:
        target = load_target(name)
        records = Pipeline(cfg, runs_dir=args.runs_dir).run(until=needed_stage(cfg, target))
        bench = json.loads((args.runs_dir / cfg.name / "bench" / "results.json").read_text())
        out = args.work / target.name
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        make_bundle(cfg, records, target, out)
        make_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(out / "run.py"), "--runtime", "onnxruntime"], capture_output=True)
        check_s = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stdout.decode(), proc.stderr.decode(), file=sys.stderr)
            return 1
        manifest = json.loads((out / "manifest.json").read_text())
        report = json.loads((out / "report.json").read_text())
        (row,) = report["devices"][0]["rows"]
        ref = next((r for r in bench["results"] if r["model"] == row["model"] and r["format"] == row["format"]), None)
        files = [p for p in out.rglob("*") if p.is_file() and p.name != "report.json"]
        rows.append(
            {
                "target": target.name,
                "precision": target.precision,
                "int8": manifest["int8"],
                "batches": target.batches,
                "artifact": row["artifact"],
                "bundle_mb": round(sum(p.stat().st_size for p in files) / 2**20, 2),
                "files": len(files),
                "sample_images": manifest["sample"]["count"],
                "make_s": round(make_s, 1),
                "check_s": round(check_s, 1),
                "bundle_map50_95": row["map50_95"],
                "bench_map50_95": ref["accuracy"]["map50_95"] if ref else None,
                "bench_images": ref["accuracy"]["images"] if ref else None,
                "check_p50_ms": row["latency_ms"]["p50_ms"],
                "check_throughput": row["throughput"],
            }
        )
    print(
        f"\n{'target':<12} {'precision':<9} {'artifact':<14} {'MB':>5} {'make s':>7} {'check s':>8} "
        f"{'mAP bundle':>10} {'mAP bench':>10} {'p50 ms':>7}"
    )
    for r in rows:
        bench_map = f"{r['bench_map50_95']:.4f}" if r["bench_map50_95"] is not None else "–"
        print(
            f"{r['target']:<12} {r['precision']:<9} {r['artifact']:<14} {r['bundle_mb']:>5.1f} {r['make_s']:>7.1f} "
            f"{r['check_s']:>8.1f} {r['bundle_map50_95']:>10.4f} {bench_map:>10} {r['check_p50_ms']:>7.2f}"
        )
    write_result(args.out, "bundle_check", {"config": str(args.config), "rows": rows}, t_all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
