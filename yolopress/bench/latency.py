"""Latency and throughput the way inference engineers measure them.

- Warm-up calls first (allocations, JIT, caches), then timed calls until both a minimum count
  and a minimum time are reached, so fast models get enough samples for a stable p99.
- Each call is timed with the runner's own clock: ``time.perf_counter`` around a synchronous
  call on CPU, CUDA events on a GPU stream (``Runner.time_infer``).
- Noise is checked: samples come in at least two attempts, pooled; while the pooled coefficient
  of variation (std / mean) or the spread between the attempts' medians is above ``cv_limit``,
  more attempts are added (up to ``repeats``), and a result still unsteady is flagged ``noisy``.
- Model-only latency (a fixed input tensor) and end-to-end latency (letterbox + inference +
  NMS on real images) are separate numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from yolopress.runtime.postprocess import nms
from yolopress.runtime.preprocess import letterbox, to_tensor


@dataclass(frozen=True)
class LatencySettings:
    warmup: int = 10
    min_iters: int = 50
    max_iters: int = 1000
    min_time_s: float = 1.0
    cv_limit: float = 0.15
    repeats: int = 2  # extra attempts when the CV is above the limit


def summarize(samples_ms: np.ndarray | list[float], batch: int = 1) -> dict:
    """Percentiles (linear interpolation), mean, sample standard deviation, CV and throughput."""
    s = np.asarray(samples_ms, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no latency samples")
    mean = float(s.mean())
    std = float(s.std(ddof=1)) if s.size > 1 else 0.0
    return {
        "p50_ms": float(np.percentile(s, 50)),
        "p90_ms": float(np.percentile(s, 90)),
        "p99_ms": float(np.percentile(s, 99)),
        "mean_ms": mean,
        "std_ms": std,
        "cv": std / mean if mean > 0 else 0.0,
        "iters": int(s.size),
        "batch": batch,
        "fps": float(1000.0 * batch / float(np.median(s))),
    }


def sample(
    timed_call: Callable[[], float], settings: LatencySettings, tick: Callable[[int], None] | None = None
) -> list[float]:
    """Call ``timed_call`` (which returns milliseconds) until min_iters and min_time_s are both met."""
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < settings.max_iters and (
        len(samples) < settings.min_iters or time.perf_counter() - start < settings.min_time_s
    ):
        samples.append(timed_call())
        if tick:
            tick(1)
    return samples


def measure_stable(
    timed_call: Callable[[], float],
    settings: LatencySettings,
    batch: int = 1,
    tick: Callable[[int], None] | None = None,
) -> dict:
    """Warm up, then sample in at least two attempts; pool them; add attempts while the result is unsteady.

    Two checks, both against ``cv_limit``: the pooled coefficient of variation (spread within a
    run) and the relative spread of the attempts' medians (drift between runs, e.g. another
    process taking a core for a few seconds, which a single run's CV does not see). Pooling
    makes the reported standard deviation include that drift. Still unsteady after
    ``repeats`` extra attempts: flagged ``noisy``.
    """
    for _ in range(settings.warmup):
        timed_call()
    attempts: list[list[float]] = []
    while len(attempts) < 2 + settings.repeats:
        attempts.append(sample(timed_call, settings, tick))
        if len(attempts) < 2:
            continue
        stats = summarize([x for a in attempts for x in a], batch)
        medians = [float(np.median(a)) for a in attempts]
        spread = (max(medians) - min(medians)) / float(np.median(medians))
        if stats["cv"] <= settings.cv_limit and spread <= settings.cv_limit:
            break
    return {
        **stats,
        "attempts": len(attempts),
        "attempt_spread": spread,
        "noisy": not (stats["cv"] <= settings.cv_limit and spread <= settings.cv_limit),
    }


def model_latency(runner, x: np.ndarray, settings: LatencySettings, tick=None) -> dict:
    """Model-only latency of ``runner`` on the fixed input ``x``."""
    return measure_stable(lambda: runner.time_infer(x), settings, batch=x.shape[0], tick=tick)


def e2e_latency(runner, images: list[np.ndarray], settings: LatencySettings, conf: float = 0.25, tick=None) -> dict:
    """End-to-end latency per image (batch 1): letterbox + to tensor + inference + NMS, on decoded images."""
    state = {"i": 0}

    def call() -> float:
        img = images[state["i"] % len(images)]
        state["i"] += 1
        t0 = time.perf_counter()
        boxed, _ = letterbox(img, runner.imgsz)
        out = runner.infer(to_tensor([boxed]))
        nms(out[0], conf=conf)
        return (time.perf_counter() - t0) * 1000.0

    return measure_stable(call, settings, batch=1, tick=tick)
