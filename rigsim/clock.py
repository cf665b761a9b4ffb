"""Clocks for the simulation: real time scaled by a factor, or a fake one tests move by hand.

Physics runs on simulated seconds from a Clock; network behaviour (API delays, session
expiry) runs on real monotonic time, because clients such as pyasic time out in real time.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Simulated seconds since the clock's epoch."""
        ...


class ScaledClock:
    """Simulated time = start + real elapsed time x scale (scale 60: a minute per second)."""

    def __init__(self, scale: float = 1.0, start: float = 0.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be > 0; got {scale}")
        self.scale = scale
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.scale


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self.t += seconds
        return self.t
