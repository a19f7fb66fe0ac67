"""Are two runs' results the same? Accuracy of every (artifact, runtime) row of two report.json files.

For a change that must not change results (a refactor): run `make deploy` before and after on the
same machine (training is deterministic on one CPU family) and compare. Latency is listed but not
compared: it is a measurement of a shared machine, not a result of the code.

    .venv/bin/python benchmarks/compare_reports.py BEFORE/report.json AFTER/report.json \
        --out benchmarks/results/<name>.json [--note "how each report was made"]

Prints a table; writes the rows, the number that differ, and the machine (command and CPU inside).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _result import write_result

from yolopress.bench.schema import load_report

ACCURACY = ("map50_95", "map50", "ap50_95_per_class", "params", "gflops")


def rows(path: Path) -> dict[tuple[str, str], dict]:
    report = load_report(path)
    return {(r.artifact, r.runtime): r.model_dump() for _, r in report.rows()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    t0 = time.perf_counter()
    a, b = rows(args.before), rows(args.after)
    table = []
    print(f"{'artifact':<22} {'runtime':<12} {'mAP50-95 before':>16} {'after':>10}  same")
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        same = x is not None and y is not None and all(x[f] == y[f] for f in ACCURACY)
        entry = {
            "artifact": key[0],
            "runtime": key[1],
            "before": None
            if x is None
            else {f: x[f] for f in ("map50_95", "map50")} | {"p50_ms": x["latency_ms"]["p50_ms"]},
            "after": None
            if y is None
            else {f: y[f] for f in ("map50_95", "map50")} | {"p50_ms": y["latency_ms"]["p50_ms"]},
            "accuracy_identical": same,
        }
        table.append(entry)
        before = "-" if x is None else f"{x['map50_95']:.6f}"
        after = "-" if y is None else f"{y['map50_95']:.6f}"
        print(f"{key[0]:<22} {key[1]:<12} {before:>16} {after:>10}  {'yes' if same else 'NO'}")
    differ = sum(not r["accuracy_identical"] for r in table)
    print(f"{len(table)} rows, {differ} differ in accuracy")
    fields = {"before": str(args.before), "after": str(args.after), "note": args.note, "rows": table}
    write_result(args.out, "compare_reports", {**fields, "rows_differing": differ}, t0)
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
