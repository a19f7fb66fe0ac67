"""The distillation guard: which student goes on to prune and qat, the distilled one or the native one.

Distillation can make a student worse: a weak or mismatched teacher, a shifted domain. A run that
trains both ``native`` and ``distill`` knows which is better on the val split, so the later stages
start from the better one (``distill.guard: true``, the default; ``false`` forces the distilled
student). A tie goes to the distilled student.

"Better" is judged on val, one seed at a time, and the verdict says whether the difference is
beyond the seed-to-seed noise: twice the spread that the distill - native difference showed over
the seeds of the last evidence study (``yolopress/assets/evidence_spread.json``). Standard library
only: the verdict is read back by the report and by the bundle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yolopress.stage import StageRecord, latest_student

if TYPE_CHECKING:
    from yolopress.config import PipelineConfig

# The seed-to-seed spread of each delta in the last evidence study (benchmarks/evidence.py writes it): a
# one-seed report shows it beside every delta, and the guard takes it as the noise of distill - native
EVIDENCE_SPREAD = Path(__file__).resolve().parent / "assets" / "evidence_spread.json"
NOISE_SPREADS = 2.0  # a difference counts as beyond noise above this many seed-to-seed stds


def evidence_spread() -> dict:
    """``{"spread": {model: {reference: std}}, ...}`` from the last evidence study; empty if there is none."""
    try:
        return json.loads(EVIDENCE_SPREAD.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@dataclass(frozen=True)
class Verdict:
    """distill vs native on val for one seed, and the student the guard lets through."""

    distill_val: float
    native_val: float
    noise: float  # the smallest difference read as beyond noise (0 where no evidence study measured it)
    guard: bool  # false: the distilled student goes on whatever the verdict
    chosen: str  # "distill" or "native"

    @property
    def diff(self) -> float:
        return self.distill_val - self.native_val

    @property
    def beyond_noise(self) -> bool:
        """The distilled student is better than native by more than the seed noise."""
        return self.diff > self.noise

    def words(self) -> str:
        d = f"distill {self.distill_val:.3f} vs native {self.native_val:.3f} on val ({self.diff * 100:+.1f} pt"
        d += f", seed noise ±{self.noise * 100:.1f} pt)" if self.noise else ")"
        if self.beyond_noise:
            return f"{d}: distillation helped; the distilled student goes on"
        if self.chosen == "native":
            return (
                f"{d}: distillation did not help, so the native student goes on to prune and qat "
                "(set distill.guard=false to force the distilled one)"
            )
        what = "was worse" if self.diff < 0 else "is not better beyond the seed noise"
        forced = " (distill.guard=false)" if not self.guard and self.diff < 0 else ""
        return f"{d}: the distilled student {what}; it goes on{forced}"

    def as_dict(self) -> dict:
        return {**asdict(self), "diff": self.diff, "beyond_noise": self.beyond_noise}


def verdict(records: dict[str, StageRecord], guard: bool) -> Verdict | None:
    """The guard's verdict on a seed's finished stages; None unless both native and distill ran and were validated."""
    if "distill" not in records or "native" not in records:
        return None
    d, n = (records[s].metrics.get("val_map50_95") for s in ("distill", "native"))
    if d is None or n is None:
        return None
    spread = evidence_spread().get("spread", {}).get("distill", {}).get("native") or 0.0
    chosen = "native" if guard and n > d else "distill"
    return Verdict(float(d), float(n), NOISE_SPREADS * float(spread), guard, chosen)


def guard_on(cfg: PipelineConfig) -> bool:
    return cfg.distill is not None and cfg.distill.guard


def student(records: dict[str, StageRecord], cfg: PipelineConfig, required: bool = True) -> str | None:
    """The FP32 student a later stage starts from: the pruned one, else the better of distill and native
    (the guard), else whichever ran. None, or with ``required`` an error, when the run has none."""
    found = latest_student(records, required)
    if found == "distill" and (v := verdict(records, guard_on(cfg))):
        return v.chosen
    return found


def switched(records: dict[str, StageRecord], cfg: PipelineConfig) -> str | None:
    """ "native" where the guard replaced the distilled student (what the key of a stage that starts from
    the student must then say); None otherwise, so the keys of runs the guard did not change stay as they were."""
    return "native" if student(records, cfg, required=False) == "native" and "distill" in records else None
