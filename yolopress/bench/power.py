"""Board power on a Jetson, read from ``tegrastats`` while a measurement runs.

tegrastats prints one line per interval with each power rail's instantaneous and average
draw: ``VDD_IN 4735mW/4735mW`` on Orin (JetPack 5/6), ``POM_5V_IN 3106/3106`` (milliwatts, no
unit) on Nano/TX2/Xavier (JetPack 4). The board's input rail (VDD_IN, POM_5V_IN) is what the
whole module draws; where neither is printed, the rails are summed. Elsewhere (no tegrastats on
the PATH) the monitor records nothing and the report leaves power empty.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


def parse_rails(line: str) -> dict[str, float]:
    """One tegrastats line -> {rail: instantaneous watts}; RAM/SWAP (which end in MB) are not rails."""
    return {m[1]: int(m[2]) / 1000.0 for m in _RAIL.finditer(line)}


def board_watts(rails: dict[str, float]) -> float | None:
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name]
    return sum(rails.values()) if rails else None


class Tegrastats:
    """``with Tegrastats() as t: ...`` then ``t.mean_w``: mean board power over the block (None without tegrastats)."""

    def __init__(self, interval_ms: int = 100, enabled: bool = True, command: str = "tegrastats") -> None:
        self.interval_ms = interval_ms
        self.path = shutil.which(command) if enabled else None
        self.samples: list[float] = []
        self._proc = None
        self._thread = None

    def _read(self) -> None:
        for line in self._proc.stdout:
            watts = board_watts(parse_rails(line))
            if watts is not None:
                self.samples.append(watts)

    def __enter__(self) -> Tegrastats:
        if self.path:
            self._proc = subprocess.Popen(
                [self.path, "--interval", str(self.interval_ms)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._thread.join(timeout=5)

    @property
    def mean_w(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 3) if self.samples else None
