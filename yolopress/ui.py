"""Console output: one progress bar per long step, one summary line per stage."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

_QUIET = os.environ.get("YOLOPRESS_QUIET") == "1"


def _print(msg: str) -> None:
    if not _QUIET:
        print(msg, file=sys.stderr, flush=True)


def fmt_duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{seconds:.1f}s"


def header(msg: str) -> None:
    _print(msg)


def stage_start(name: str) -> None:
    _print(f"▶ {name}")


def stage_line(name: str, status: str, summary: str, detail: str = "") -> None:
    mark = {"done": "✔", "skip": "↷"}.get(status, "•")
    tail = f"  [{detail}]" if detail else ""
    _print(f"{mark} {name:<8} {summary}{tail}")


def info(msg: str) -> None:
    _print(f"  {msg}")


def progress(total: int | None, desc: str, unit: str = "it") -> tqdm:
    """A progress bar with rate and ETA on a terminal; none in logs (unless YOLOPRESS_PROGRESS=1) or when quiet."""
    disable = True if _QUIET else (False if os.environ.get("YOLOPRESS_PROGRESS") == "1" else None)
    return tqdm(
        total=total, desc=f"  {desc}", unit=unit, leave=False, file=sys.stderr, disable=disable, dynamic_ncols=True
    )
