"""Means over seeds and paired differences with their 95% confidence interval; standard library only.

A gain is the mean of per-seed differences (same seed, same data order, one with and one without
the method), and its interval is Student's t over those differences: with n seeds,
mean ± t(0.975, n-1) · sd / sqrt(n). Pairing removes what the seed does to both arms alike, so
three paired seeds say more than three unpaired ones. With one seed there is no interval.
"""

from __future__ import annotations

import math
import statistics

# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom; 1.96 beyond the table
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
    25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the next smaller tabulated df above 20)."""
    if df < 1:
        raise ValueError("a t interval needs at least 2 values")
    if df in _T975:
        return _T975[df]
    below = [d for d in _T975 if d <= df]
    return _T975[max(below)] if df <= 120 else 1.96


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def ci95(values: list[float]) -> tuple[float, float] | None:
    """The 95% t-interval of the mean of ``values``; None for fewer than two."""
    if len(values) < 2:
        return None
    m, sd = mean_std(values)
    half = t975(len(values) - 1) * sd / math.sqrt(len(values))
    return m - half, m + half


def paired(a: dict, b: dict) -> dict | None:
    """``a - b`` over the seeds both have (``{seed: value}`` each): mean, 95% CI (None for one seed), the seeds."""
    seeds = sorted(set(a) & set(b), key=str)
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    m, sd = mean_std(diffs)
    return {"mean_diff": m, "std": sd, "ci95": ci95(diffs), "n": len(seeds), "seeds": seeds}


def significant(ci: tuple[float, float] | list[float] | None) -> bool | None:
    """Whether a CI excludes 0 (None: no interval to judge)."""
    return None if ci is None else (ci[0] > 0 or ci[1] < 0)


def describe(diff: dict | None, scale: float = 100.0, unit: str = " pt") -> str:
    """A paired difference in words: ``+2.1 pt [+0.4, +3.8]``, with "no significant difference" where the
    interval spans 0 and "1 seed" where there is none."""
    if diff is None:
        return "–"
    m = diff["mean_diff"] * scale
    ci = diff.get("ci95")
    if ci is None:
        return f"{m:+.1f}{unit} (1 seed)"
    text = f"{m:+.1f}{unit} [{ci[0] * scale:+.1f}, {ci[1] * scale:+.1f}]"
    return text if significant(ci) else f"{text}, no significant difference"
