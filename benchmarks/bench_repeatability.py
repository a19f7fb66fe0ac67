"""Do two back-to-back latency measurements of the same artifacts agree within the noise the harness reports?

Measures every exported artifact of a finished run twice, one right after the other, with the
bench stage's own settings and code, and checks that the two p50s differ by no more than the
larger of the two standard deviations the harness reported.

    .venv/bin/python benchmarks/bench_repeatability.py [--run runs/demo] [--config configs/default.yaml]

Prints a table; writes benchmarks/results/bench_repeatability.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.config import load_config
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_repeatability.json")
    args = ap.parse_args()

    cfg = load_config(args.config)
    b = cfg.bench
    settings = LatencySettings(b.warmup, b.min_iters, max(b.min_iters, 1000), b.min_time_s, b.cv_limit, b.repeats)
    bench = json.loads((args.run / "bench" / "results.json").read_text())
    x = np.random.default_rng(0).random((1, 3, cfg.imgsz, cfg.imgsz), dtype=np.float32)
    rows = []
    for art in bench["results"]:
        runner = load_runner(args.run / art["path"], art["runtime"], cfg.imgsz, threads=b.threads)
        with runner:
            first = model_latency(runner, x, settings)
            second = model_latency(runner, x, settings)
        diff = abs(first["p50_ms"] - second["p50_ms"])
        noise = max(first["std_ms"], second["std_ms"])
        rows.append(
            {
                "artifact": f"{art['model']}/{art['format']}",
                "runtime": art["runtime"],
                "run1": first,
                "run2": second,
                "p50_diff_ms": diff,
                "noise_ms": noise,
                "agree": diff <= noise,
            }
        )

    print(f"{'artifact':<18} {'runtime':<12} {'run 1 p50±std':>16} {'run 2 p50±std':>16} {'|Δp50|':>8}  agree")
    for r in rows:
        a, c = r["run1"], r["run2"]
        print(
            f"{r['artifact']:<18} {r['runtime']:<12} {a['p50_ms']:>8.2f}±{a['std_ms']:<6.2f} "
            f"{c['p50_ms']:>8.2f}±{c['std_ms']:<6.2f} {r['p50_diff_ms']:>8.3f}  {'yes' if r['agree'] else 'NO'}"
        )
    write_result(
        args.out,
        "bench_repeatability",
        {
            "settings": settings.__dict__,
            "criterion": "|p50(run1) - p50(run2)| <= max(std(run1), std(run2))",
            "rows": rows,
            "all_agree": all(r["agree"] for r in rows),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
