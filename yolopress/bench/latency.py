"""Latency and throughput the way inference engineers measure them.

- Warm-up calls first (allocations, JIT, caches), then timed calls until both a minimum count
  and a minimum time are reached, so fast models get enough samples for a stable p99.
- Each call is timed with the runner's own clock: ``time.perf_counter`` around a synchronous
  call on CPU, CUDA events on a GPU stream (``Runner.time_infer``).
- The coefficient of variation (std / mean) is checked: above ``cv_limit`` the measurement is
  repeated (up to ``repeats`` times, keeping the steadiest) and, if still noisy, flagged.
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
    """Warm up, sample, and repeat while the CV is above the limit; keep the steadiest attempt."""
    for _ in range(settings.warmup):
        timed_call()
    attempts: list[dict] = []
    while len(attempts) <= settings.repeats:
        attempts.append(summarize(sample(timed_call, settings, tick), batch))
        if attempts[-1]["cv"] <= settings.cv_limit:
            break
    best = min(attempts, key=lambda a: a["cv"])
    return {**best, "attempts": len(attempts), "noisy": best["cv"] > settings.cv_limit}


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
