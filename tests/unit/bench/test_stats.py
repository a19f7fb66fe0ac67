"""Means over seeds, paired differences and their 95% t-intervals."""

import math

import pytest

from yolopress.bench.stats import ci95, describe, mean_std, paired, significant, t975


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706) and t975(2) == pytest.approx(4.303)
    assert t975(22) == t975(20)  # between tabulated values: the smaller df's (wider, conservative) quantile
    assert t975(10_000) == 1.96
    with pytest.raises(ValueError):
        t975(0)


def test_ci_of_three_values():
    lo, hi = ci95([0.01, 0.02, 0.03])
    half = 4.303 * 0.01 / math.sqrt(3)
    assert (lo, hi) == pytest.approx((0.02 - half, 0.02 + half))
    assert ci95([0.5]) is None and mean_std([0.5]) == (0.5, None)


def test_paired_uses_only_common_seeds_and_removes_what_seeds_share():
    # seed effects of +-10 points shared by both arms: the paired difference is a steady +1 point
    a = {0: 0.31, 1: 0.11, 2: 0.21, 3: 0.5}
    b = {0: 0.30, 1: 0.10, 2: 0.20}
    d = paired(a, b)
    assert d["n"] == 3 and d["seeds"] == [0, 1, 2]
    assert d["mean_diff"] == pytest.approx(0.01) and d["std"] == pytest.approx(0.0, abs=1e-12)
    assert d["ci95"] == pytest.approx((0.01, 0.01))
    assert paired({0: 0.1}, {1: 0.1}) is None


def test_words():
    assert significant((0.001, 0.02)) is True and significant((-0.01, 0.02)) is False and significant(None) is None
    assert describe(paired({0: 0.3, 1: 0.2, 2: 0.25}, {0: 0.29, 1: 0.21, 2: 0.25})).endswith(
        "no significant difference"
    )
    assert describe(paired({0: 0.3}, {0: 0.28})) == "+2.0 pt (1 seed)"
    assert describe(None) == "–"
