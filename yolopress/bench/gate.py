"""Regression gates for CI: compare a report with a baseline under rules, fail closed.

Rules (``configs/gates.yaml``) say, per metric and artifact pattern, how much worse a number may
get. Accuracy rules are absolute drops (points of mAP). Latency is judged as a ratio to a
reference artifact measured *in the same report* (``latency_ratio``), so a slower or busier
machine does not fail the gate but a model that got slower relative to its peers does. Anything
the baseline has that the report lacks (a device, an artifact, a metric) is a failure.

A ``speedup`` rule is a floor, not a comparison with the baseline: the deployed artifact's speed-up
against native FP32 on ONNX Runtime, measured in the report at a deployment size, must reach a
minimum that depends on the CPU class (INT8 is fast only where the CPU has VNNI or AMX).

A ``gain`` rule is a floor too: an artifact's mAP50-95 gain over a reference (``vs``: native, control or
teacher) on the same runtime, paired over the report's seeds, must be at least ``min_gain``, judged on
its mean or, by default, on the lower bound of its 95% confidence interval (which a one-seed report
does not have: that fails, and says to run with seeds or gate on the mean).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree as ET

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yolopress.bench.device import cpu_class
from yolopress.bench.schema import Device, Report, Row
from yolopress.io import write_text

HIGHER_IS_BETTER = {"map50_95", "map50"}
LOWER_IS_BETTER = {"latency_ratio", "p50_ms", "p90_ms", "p99_ms", "e2e_p50_ms", "size_mb"}
FLOORS = {"speedup", "gain"}  # judged against a minimum, in the report alone


class GateConfigError(ValueError):
    pass


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    metric: Literal[
        "map50_95", "map50", "latency_ratio", "p50_ms", "p90_ms", "p99_ms", "e2e_p50_ms", "size_mb", "speedup", "gain"
    ]
    artifacts: list[str] = Field(default_factory=lambda: ["*"])  # globs over "model/format"
    runtimes: list[str] = Field(default_factory=lambda: ["*"])
    max_drop: float | None = Field(None, ge=0)  # absolute, for accuracy metrics
    max_increase: float | None = Field(None, ge=0)  # relative (0.25 = 25% worse), for cost metrics
    min_speedup: dict[Literal["vnni", "avx2"], float] | None = None  # speedup: the floor per CPU class
    size: int | None = Field(None, ge=32)  # speedup: at this deployment size (None: the training size)
    vs: Literal["native", "control", "teacher"] | None = None  # gain: against this reference
    min_gain: float | None = Field(None, ge=-1, le=1)  # gain: the floor (mAP as a fraction: 0.01 = 1 point)
    bound: Literal["mean", "ci_low"] = "ci_low"  # gain: judge the mean, or the lower end of its 95% CI

    @model_validator(mode="after")
    def _one_limit(self) -> Rule:
        if self.metric == "gain":
            if self.vs is None or self.min_gain is None or self.max_drop or self.max_increase or self.min_speedup:
                raise ValueError(f"rule {self.name!r}: gain takes vs (native, control or teacher) and min_gain")
            return self
        if self.metric in FLOORS:
            if (
                self.min_speedup is None
                or set(self.min_speedup) != {"vnni", "avx2"}
                or self.max_drop
                or self.max_increase
            ):
                raise ValueError(f"rule {self.name!r}: speedup takes min_speedup with a floor for vnni and for avx2")
            return self
        if self.metric in HIGHER_IS_BETTER and (self.max_drop is None or self.max_increase is not None):
            raise ValueError(f"rule {self.name!r}: {self.metric} takes max_drop (an absolute drop), not max_increase")
        if self.metric in LOWER_IS_BETTER and (self.max_increase is None or self.max_drop is not None):
            raise ValueError(f"rule {self.name!r}: {self.metric} takes max_increase (a relative rise), not max_drop")
        return self


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = "native/onnx"  # the artifact latency ratios are taken against
    rules: list[Rule]


# The defaults; configs/gates.yaml spells out the same rules (a test keeps the two equal).
DEFAULT_RULES = Rules(
    reference="native/onnx",
    rules=[
        Rule(name="accuracy", metric="map50_95", max_drop=0.01),
        Rule(name="speed", metric="latency_ratio", max_increase=0.25),
    ],
)


def load_rules(path: Path | None) -> Rules:
    if path is None:
        return DEFAULT_RULES
    path = Path(path)
    if not path.is_file():
        raise GateConfigError(f"gate rules not found: {path} (the defaults are configs/gates.yaml)")
    try:
        return Rules.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as e:
        raise GateConfigError(f"invalid gate rules {path}: {e}") from None


@dataclass
class Check:
    rule: str
    metric: str
    device: str
    artifact: str
    runtime: str
    baseline: float | None
    current: float | None
    limit: str
    passed: bool
    message: str


def _metric(row: Row, metric: str, device: Device, reference: str) -> float | None:
    if metric in ("map50_95", "map50", "size_mb"):
        return getattr(row, metric)
    if metric == "e2e_p50_ms":
        return row.e2e_latency_ms.p50_ms if row.e2e_latency_ms else None
    if metric in ("p50_ms", "p90_ms", "p99_ms"):
        return getattr(row.latency_ms, metric)
    ref = next((r for r in device.rows if r.artifact == reference and r.runtime == row.runtime), None)
    if ref is None:  # fall back to the reference artifact on any runtime
        ref = next((r for r in device.rows if r.artifact == reference), None)
    return None if ref is None else row.latency_ms.p50_ms / ref.latency_ms.p50_ms


def _pair_devices(report: Report, baseline: Report) -> list[tuple[Device, Device | None]]:
    current = {d.id: d for d in report.devices}
    if len(report.devices) == 1 and len(baseline.devices) == 1:
        return [(baseline.devices[0], report.devices[0])]  # one machine each: compare them, whatever their names
    return [(b, current.get(b.id)) for b in baseline.devices]


def _judge(rule: Rule, base: float, cur: float) -> tuple[bool, str, str]:
    if rule.metric in HIGHER_IS_BETTER:
        drop = base - cur
        ok = drop <= rule.max_drop + 1e-12
        return ok, f"drop ≤ {rule.max_drop:g}", f"dropped by {drop:.4f} (allowed {rule.max_drop:g})"
    rise = cur / base - 1 if base > 0 else math.inf
    ok = rise <= rule.max_increase + 1e-12
    return ok, f"rise ≤ {rule.max_increase:.0%}", f"rose by {rise:.1%} (allowed {rule.max_increase:.0%})"


def _matches(rule: Rule, row: Row) -> bool:
    return any(fnmatch.fnmatch(row.artifact, g) for g in rule.artifacts) and any(
        fnmatch.fnmatch(row.runtime, g) for g in rule.runtimes
    )


def _floor_checks(rule: Rule, report: Report) -> list[Check]:
    """A speed-up floor on every matching row of every device of the report; no matching row fails."""
    checks = []
    for dev in report.devices:
        cpu = cpu_class(dev.fingerprint.get("cpu_flags") or [])
        floor = rule.min_speedup[cpu]
        at = f"{rule.size} px" if rule.size else "the training size"
        rows = [r for r in dev.rows if _matches(rule, r)]
        where = dict(rule=rule.name, metric="speedup", device=dev.id, baseline=None, limit=f"≥ {floor:g}×")
        if not rows:
            msg = f"no {', '.join(rule.artifacts)} row on {', '.join(rule.runtimes)} in the report ({dev.id})"
            checks.append(Check(**where, artifact="-", runtime="-", current=None, passed=False, message=msg))
        for r in rows:
            speed = r.sizes.get(rule.size) if rule.size else r
            value = getattr(speed, "speedup_vs_native_fp32_ort", None)
            if value is None:
                msg = f"speed-up of {r.artifact} on {r.runtime} at {at} is missing from the report"
            else:
                msg = f"speed-up of {r.artifact} on {r.runtime} at {at}: {value:.2f}× (floor {floor:g}× on a {cpu} CPU)"
            ok = value is not None and value >= floor
            checks.append(Check(**where, artifact=r.artifact, runtime=r.runtime, current=value, passed=ok, message=msg))
    return checks


def _gain_checks(rule: Rule, report: Report) -> list[Check]:
    """A floor on the paired gain over ``rule.vs`` of every matching row (its mean or its CI's lower end)."""
    checks = []
    for dev in report.devices:
        rows = [r for r in dev.rows if _matches(rule, r) and r.model != rule.vs]
        where = dict(rule=rule.name, metric="gain", device=dev.id, baseline=None, limit=f"≥ {rule.min_gain:+g}")
        if not rows:
            msg = f"no {', '.join(rule.artifacts)} row on {', '.join(rule.runtimes)} in the report ({dev.id})"
            checks.append(Check(**where, artifact="-", runtime="-", current=None, passed=False, message=msg))
        for r in rows:
            d = getattr(r, f"vs_{rule.vs}")
            what = f"gain of {r.artifact} on {r.runtime} over {rule.vs}"
            if d is None:
                value, msg = None, f"{what} is missing from the report (no {rule.vs} row on {r.runtime})"
            elif rule.bound == "ci_low" and d.ci95 is None:
                value = None
                msg = (
                    f"{what}: {d.map50_95 * 100:+.1f} pt from one seed, which has no confidence interval; run with "
                    f"`seeds: [0, 1, 2]`, or gate on `bound: mean`"
                )
            else:
                value = d.map50_95 if rule.bound == "mean" else d.ci95[0]
                label = "mean" if rule.bound == "mean" else f"95% CI lower bound over {d.n} seeds"
                msg = f"{what}: {label} {value * 100:+.2f} pt (floor {rule.min_gain * 100:+.2f} pt)"
            ok = value is not None and value >= rule.min_gain - 1e-12
            checks.append(Check(**where, artifact=r.artifact, runtime=r.runtime, current=value, passed=ok, message=msg))
    return checks


def evaluate_gate(report: Report, baseline: Report, rules: Rules) -> list[Check]:
    """Every rule against every matching baseline row (floors: every matching report row); missing data fails."""
    floors = {"speedup": _floor_checks, "gain": _gain_checks}
    checks: list[Check] = [
        c for rule in rules.rules if rule.metric in FLOORS for c in floors[rule.metric](rule, report)
    ]
    for base_dev, cur_dev in _pair_devices(report, baseline):
        for rule in (r for r in rules.rules if r.metric not in FLOORS):
            for brow in (r for r in base_dev.rows if _matches(rule, r)):
                where = dict(
                    rule=rule.name, metric=rule.metric, device=base_dev.id, artifact=brow.artifact, runtime=brow.runtime
                )
                base_val = _metric(brow, rule.metric, base_dev, rules.reference)
                crow = None
                if cur_dev is not None:
                    crow = next(
                        (r for r in cur_dev.rows if (r.artifact, r.runtime) == (brow.artifact, brow.runtime)), None
                    )
                cur_val = None if crow is None else _metric(crow, rule.metric, cur_dev, rules.reference)
                if cur_dev is None:
                    msg = f"device {base_dev.id} is in the baseline but not in the report"
                elif crow is None:
                    msg = f"{brow.artifact} on {brow.runtime} is in the baseline but not in the report"
                elif base_val is None or cur_val is None:
                    side = "baseline" if base_val is None else "report"
                    msg = f"{rule.metric} of {brow.artifact} on {brow.runtime} is missing from the {side}"
                else:
                    ok, limit, how = _judge(rule, base_val, cur_val)
                    msg = f"{rule.metric} of {brow.artifact} on {brow.runtime}: {base_val:.4g} → {cur_val:.4g}, {how}"
                    checks.append(
                        Check(**where, baseline=base_val, current=cur_val, limit=limit, passed=ok, message=msg)
                    )
                    continue
                checks.append(
                    Check(**where, baseline=base_val, current=cur_val, limit="present", passed=False, message=msg)
                )
    return checks


def summary(checks: list[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [f"gate: {len(checks) - len(failed)} passed, {len(failed)} failed"]
    lines += [f"  FAIL [{c.rule}] {c.message}" for c in failed]
    if not checks:
        lines.append("  FAIL no check ran: the rules match nothing in the baseline")
    return "\n".join(lines)


def passed(checks: list[Check]) -> bool:
    return bool(checks) and all(c.passed for c in checks)


def junit_xml(checks: list[Check]) -> str:
    failures = sum(not c.passed for c in checks) + (0 if checks else 1)
    suite = ET.Element("testsuite", name="yolopress-gate", tests=str(max(len(checks), 1)), failures=str(failures))
    for c in checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"gate.{c.rule}", name=f"{c.artifact} [{c.runtime}] {c.metric}"
        )
        if not c.passed:
            ET.SubElement(case, "failure", message=c.message).text = c.message
    if not checks:
        case = ET.SubElement(suite, "testcase", classname="gate", name="rules match the baseline")
        ET.SubElement(case, "failure", message="no check ran")
    return ET.tostring(suite, encoding="unicode")


def write_junit(checks: list[Check], path: Path) -> None:
    write_text(path, '<?xml version="1.0" encoding="utf-8"?>\n' + junit_xml(checks) + "\n")
