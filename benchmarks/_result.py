"""The header every benchmark result JSON carries: what ran it, where and when, and how long it took."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from yolopress.bench.device import fingerprint
from yolopress.io import write_json


def write_result(out: Path, name: str, fields: dict, t0: float | None = None) -> None:
    """Write ``fields`` to ``out`` after the header (benchmark, command, created, machine); say where."""
    result = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": fingerprint(),
        **fields,
    }
    if t0 is not None:
        result["wall_time_s"] = round(time.perf_counter() - t0, 1)
    write_json(out, result)
    print(f"wrote {out}")
