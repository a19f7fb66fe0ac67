"""The versioned ``report.json`` schema, and reading reports of every version.

Version history:
  1. one row per artifact: accuracy, model-only latency percentiles, FPS at batch 1.
  2. adds end-to-end latency (preprocess + inference + NMS), throughput per batch size, a
     ``noisy`` flag per latency measurement and the thread settings; ``fps`` becomes
     ``throughput`` keyed by batch size.
  3. adds ``power_w`` per row (mean board power while timing, from tegrastats on a Jetson) and
     TensorRT rows (runtime ``tensorrt``, format ``engine``); v2 reports need no change.
  4. adds ``sizes`` per row (latency, throughput and speed-up at each deployment input size) and
     ``speedup_vs_native_fp32_ort`` (at the training size); v3 reports need no change.
  5. adds seeds: ``seeds`` per report, ``map50_95_std`` and ``map50_95_per_seed`` per row (accuracy is
     the mean over seeds), ``vs_control`` (the budget-matched control), and per delta its paired 95%
     CI, the number of seeds, and for a one-seed run the seed-to-seed spread from the last evidence
     study; v4 reports need no change (one seed, unknown).
  6. adds ``float_precision`` per row: what the runtime ran the float operations in (OpenVINO: ``f32``,
     or ``bf16`` for an INT8 IR on a CPU with bf16 units); v5 reports need no change (unknown).

Reports written by older versions are migrated on load, so ``yolopress report`` and
``yolopress gate`` read any report that was ever written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yolopress.bench.rows import SCHEMA_VERSION


class ReportError(ValueError):
    """A report that cannot be read: names the file and what is wrong."""


class _Strict(BaseModel):
    # No NaN or infinity anywhere: a report that holds one cannot be trusted, so it is refused
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Share = Annotated[float, Field(ge=0, le=1)]  # mAP, AP: a share of the best possible
Positive = Annotated[float, Field(gt=0)]


class Latency(_Strict):
    p50_ms: Positive
    p90_ms: Positive
    p99_ms: Positive
    mean_ms: Positive
    std_ms: float = Field(ge=0)
    cv: float = Field(ge=0)
    iters: int = Field(0, ge=0)
    batch: int = Field(1, ge=1)
    attempt_spread: float | None = None  # (max - min) / median of the attempts' medians: drift between runs
    noisy: bool = False  # CV or attempt spread stayed above the limit after the allowed repeats


class Delta(_Strict):
    map50_95: float = Field(ge=-1, le=1)  # the mean of the per-seed (paired) differences
    latency_ratio: Positive
    ci95: tuple[float, float] | None = None  # 95% t-interval of the paired difference; None with one seed
    n: int = Field(1, ge=1)  # seeds the difference is paired over
    seed_spread: float | None = Field(None, ge=0)  # one seed: std of this difference over seeds, last evidence study

    @model_validator(mode="after")
    def _ordered(self) -> Delta:
        if self.ci95 is not None and not self.ci95[0] <= self.map50_95 <= self.ci95[1]:
            raise ValueError(f"ci95 {self.ci95} does not contain the mean difference {self.map50_95}")
        return self


class SizeSpeed(_Strict):
    """An artifact's speed at one deployment input size (accuracy is measured at the training size)."""

    latency_ms: Latency  # model-only, batch 1
    throughput: dict[Annotated[int, Field(ge=1)], Positive] = Field(default_factory=dict)
    speedup_vs_native_fp32_ort: Positive | None = None  # native FP32 on ONNX Runtime p50 / this p50, same size


class Row(_Strict):
    artifact: str  # "<model>/<format>", e.g. "native/onnx"
    model: str
    runtime: str
    format: str
    precision: str
    params: int = Field(ge=0)
    gflops: float = Field(ge=0)
    size_mb: float = Field(ge=0)
    path: str = ""
    map50_95: Share  # the mean over seeds
    map50: Share
    map50_95_std: float | None = Field(None, ge=0)  # over seeds; None with one
    map50_95_per_seed: dict[int, Share] = Field(default_factory=dict)
    ap50_95_per_class: dict[str, Share] = Field(default_factory=dict)
    latency_ms: Latency  # model-only, batch 1
    e2e_latency_ms: Latency | None = None  # preprocess + inference + NMS on real images, batch 1
    # batch size -> images per second (model-only)
    throughput: dict[Annotated[int, Field(ge=1)], Positive] = Field(default_factory=dict)
    threads: int | None = Field(None, ge=1)
    float_precision: str | None = None  # what the float operations ran in, where the runtime says (OpenVINO)
    vs_teacher: Delta | None = None
    vs_native: Delta | None = None
    vs_control: Delta | None = None
    power_w: float | None = Field(None, ge=0)  # mean board input power during the model-only timing (Jetson)
    speedup_vs_native_fp32_ort: Positive | None = None  # at the training size, as in ``sizes``
    sizes: dict[Annotated[int, Field(ge=32)], SizeSpeed] = Field(default_factory=dict)  # input size -> speed


class Device(_Strict):
    id: str
    fingerprint: dict[str, Any]
    rows: list[Row]

    @model_validator(mode="after")
    def _one_row_per_artifact_and_runtime(self) -> Device:
        seen: set[tuple[str, str]] = set()
        for row in self.rows:
            key = (row.artifact, row.runtime)
            if key in seen:  # which one would the gate compare? neither can be trusted
                raise ValueError(f"two rows for {row.artifact} on {row.runtime} (device {self.id})")
            seen.add(key)
        return self


class Report(_Strict):
    schema_version: int = SCHEMA_VERSION
    yolopress_version: str
    title: str
    run: str
    created: str
    split: str
    imgsz: int
    seeds: list[int] = Field(default_factory=list)  # the student seeds the rows are means over; empty: one, unknown
    devices: list[Device]

    @model_validator(mode="after")
    def _unique_devices(self) -> Report:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"device ids repeat: {ids}")
        return self

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


def _migrate_v3(raw: dict) -> dict:
    """v3 -> v4: only additions (``sizes``, ``speedup_vs_native_fp32_ort``), which default to empty."""
    return {**raw, "schema_version": 4}


def _migrate_v4(raw: dict) -> dict:
    """v4 -> v5: only additions (seeds, spreads, ``vs_control``, CIs), which default to one unknown seed."""
    return {**raw, "schema_version": 5}


def _migrate_v5(raw: dict) -> dict:
    """v5 -> v6: only ``float_precision`` per row, which defaults to unknown."""
    return {**raw, "schema_version": 6}


_MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2, 3: _migrate_v3, 4: _migrate_v4, 5: _migrate_v5}


def parse_report(raw: dict, source: str = "<report>") -> Report:
    """Validate a report dict of any known version; raise ReportError naming ``source`` if it is not one."""
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise ReportError(f"{source} is not a yolopress report (no schema_version)")
    version = raw["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportError(f"{source}: schema_version must be a whole number >= 1, got {version!r}")
    if version > SCHEMA_VERSION:
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
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r:.40})" for err in e.errors()[:5]
        )
        raise ReportError(f"{source} does not match report schema {SCHEMA_VERSION}: {problems}") from None


def load_report(path: Path) -> Report:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"report not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path} is not a JSON report ({type(e).__name__}: {str(e)[:80]})") from None
    return parse_report(raw, str(path))
