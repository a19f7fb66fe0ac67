"""The versioned ``report.json`` schema, and reading reports of every version.

Version history:
  1. one row per artifact: accuracy, model-only latency percentiles, FPS at batch 1.
  2. adds end-to-end latency (preprocess + inference + NMS), throughput per batch size, a
     ``noisy`` flag per latency measurement and the thread settings; ``fps`` becomes
     ``throughput`` keyed by batch size.
  3. adds ``power_w`` per row (mean board power while timing, from tegrastats on a Jetson) and
     TensorRT rows (runtime ``tensorrt``, format ``engine``); v2 reports need no change.

Reports written by older versions are migrated on load, so ``yolopress report`` and
``yolopress gate`` read any report that was ever written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from yolopress.bench.rows import SCHEMA_VERSION


class ReportError(ValueError):
    """A report that cannot be read: names the file and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(_Strict):
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    iters: int = 0
    batch: int = 1
    attempt_spread: float | None = None  # (max - min) / median of the attempts' medians: drift between runs
    noisy: bool = False  # CV or attempt spread stayed above the limit after the allowed repeats


class Delta(_Strict):
    map50_95: float
    latency_ratio: float


class Row(_Strict):
    artifact: str  # "<model>/<format>", e.g. "native/onnx"
    model: str
    runtime: str
    format: str
    precision: str
    params: int
    gflops: float
    size_mb: float
    path: str = ""
    map50_95: float
    map50: float
    ap50_95_per_class: dict[str, float] = Field(default_factory=dict)
    latency_ms: Latency  # model-only, batch 1
    e2e_latency_ms: Latency | None = None  # preprocess + inference + NMS on real images, batch 1
    throughput: dict[int, float] = Field(default_factory=dict)  # batch size -> images per second (model-only)
    threads: int | None = None
    vs_teacher: Delta | None = None
    vs_native: Delta | None = None
    power_w: float | None = None  # mean board input power during the model-only timing (Jetson, tegrastats)


class Device(_Strict):
    id: str
    fingerprint: dict[str, Any]
    rows: list[Row]


class Report(_Strict):
    schema_version: int = SCHEMA_VERSION
    yolopress_version: str
    title: str
    run: str
    created: str
    split: str
    imgsz: int
    devices: list[Device]

    def rows(self) -> list[tuple[Device, Row]]:
        return [(d, r) for d in self.devices for r in d.rows]


def _migrate_v1(raw: dict) -> dict:
    """v1 -> v2: ``fps`` (batch 1) becomes ``throughput[1]``; latency gains iters/batch/noisy defaults."""
    for dev in raw.get("devices", []):
        for row in dev.get("rows", []):
            fps = row.pop("fps", None)
            if fps is not None:
                row["throughput"] = {1: fps}
    raw["schema_version"] = 2
    return raw


def _migrate_v2(raw: dict) -> dict:
    """v2 -> v3: only additions (``power_w``), which default to None."""
    return {**raw, "schema_version": 3}


_MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2}


def parse_report(raw: dict, source: str = "<report>") -> Report:
    """Validate a report dict of any known version; raise ReportError naming ``source`` if it is not one."""
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise ReportError(f"{source} is not a yolopress report (no schema_version)")
    version = raw["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ReportError(
            f"{source} has schema_version {version!r}; this yolopress reads up to {SCHEMA_VERSION}: upgrade yolopress"
        )
    while version < SCHEMA_VERSION:
        if version not in _MIGRATIONS:
            raise ReportError(f"{source} has schema_version {version}, which no yolopress version wrote")
        raw = _MIGRATIONS[version](dict(raw))
        version = raw["schema_version"]
    try:
        return Report.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:5])
        raise ReportError(f"{source} does not match report schema {SCHEMA_VERSION}: {problems}") from None


def load_report(path: Path) -> Report:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"report not found: {path}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON: {e}") from None
    return parse_report(raw, str(path))
