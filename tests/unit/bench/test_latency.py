import itertools

import numpy as np
import pytest

from yolopress.bench.latency import LatencySettings, measure_stable, sample, summarize
from yolopress.bench.plots import pareto_front


def test_summary_on_known_samples():
    s = summarize(list(range(1, 101)), batch=2)  # 1..100 ms
    assert s["p50_ms"] == pytest.approx(50.5) and s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01) and s["mean_ms"] == pytest.approx(50.5)
    assert s["fps"] == pytest.approx(2000 / 50.5)
    assert s["cv"] == pytest.approx(np.std(np.arange(1, 101), ddof=1) / 50.5)
    with pytest.raises(ValueError):
        summarize([])


def test_sample_meets_count_and_time():
    calls = itertools.count()
    out = sample(lambda: float(next(calls)), LatencySettings(min_iters=7, min_time_s=0.0, max_iters=100))
    assert len(out) == 7
    out = sample(lambda: 1.0, LatencySettings(min_iters=1, min_time_s=0.05, max_iters=10**7))
    assert len(out) > 1


def test_noisy_measurement_is_repeated_then_flagged():
    noisy = itertools.cycle([1.0, 10.0])
    res = measure_stable(lambda: next(noisy), LatencySettings(warmup=0, min_iters=10, min_time_s=0, repeats=2))
    assert res["attempts"] == 4 and res["noisy"] is True and res["iters"] == 40  # samples of all attempts pooled
    res = measure_stable(lambda: 5.0, LatencySettings(warmup=0, min_iters=10, min_time_s=0, repeats=2))
    assert res["attempts"] == 2 and res["noisy"] is False and res["p50_ms"] == 5.0


def test_drift_between_attempts_is_caught():
    """Each attempt is steady on its own, but the level moves between them: a single run's CV cannot see that."""
    seq = itertools.chain([2.0] * 10, [3.0] * 10, itertools.repeat(3.0))
    res = measure_stable(lambda: next(seq), LatencySettings(warmup=0, min_iters=10, min_time_s=0, repeats=0))
    assert res["attempt_spread"] == pytest.approx(0.4) and res["noisy"] is True
    assert res["std_ms"] > 0.4  # the drift shows in the reported spread


def test_pareto_front():
    pts = [(1.0, 0.2), (2.0, 0.1), (2.0, 0.3), (5.0, 0.25), (8.0, 0.5)]
    assert pareto_front(pts) == [(1.0, 0.2), (2.0, 0.3), (8.0, 0.5)]
