"""Model-only latency of a runner: warm-up, then timed iterations, reported as percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def summarize(samples_ms: np.ndarray | list[float], batch: int = 1) -> dict:
    """Percentiles (linear interpolation), mean, standard deviation, CV and throughput of latency samples."""
    s = np.asarray(samples_ms, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no latency samples")
    mean = float(s.mean())
    return {
        "p50_ms": float(np.percentile(s, 50)),
        "p90_ms": float(np.percentile(s, 90)),
        "p99_ms": float(np.percentile(s, 99)),
        "mean_ms": mean,
        "std_ms": float(s.std(ddof=1)) if s.size > 1 else 0.0,
        "cv": float(s.std(ddof=1) / mean) if s.size > 1 and mean > 0 else 0.0,
        "iters": int(s.size),
        "batch": batch,
        "fps": float(1000.0 * batch / float(np.median(s))),
    }


def measure(
    infer: Callable[[np.ndarray], object],
    x: np.ndarray,
    warmup: int = 10,
    iters: int = 100,
    sync: Callable[[], None] = lambda: None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Time ``infer(x)`` ``iters`` times after ``warmup`` untimed calls; ``sync`` waits for async devices."""
    for _ in range(warmup):
        infer(x)
    sync()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        infer(x)
        sync()
        samples.append((time.perf_counter() - t0) * 1000.0)
        if progress:
            progress(1)
    return summarize(samples, batch=x.shape[0])
