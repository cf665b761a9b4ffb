"""What every allotment source reports, and the shape of a source.

A source answers "how many megawatts may this site draw, as of when, and says who?".
Sources are read with the time passed in (`now`, epoch seconds), so their logic runs in
tests without clocks or sockets; the live feeds add a thin asyncio shell that stores
what arrives.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class AllotmentError(ValueError):
    """An allotment input is unusable; the message names the source and what was expected."""


# 100 GW: more than any one site is allotted (a whole national surplus is ~2,000 MW); a
# larger figure from a config, a schedule or a feed is a mistake, not an allotment
MAX_ALLOTMENT_MW = 100_000.0


def check_mw(where: str, value: object) -> float:
    """A finite MW figure in [0, MAX_ALLOTMENT_MW], or AllotmentError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AllotmentError(f"{where}: expected a number of megawatts, got {shown(value)}")
    try:
        mw = float(value)
    except OverflowError:  # an int beyond float range
        mw = math.inf
    if not math.isfinite(mw) or not 0 <= mw <= MAX_ALLOTMENT_MW:
        raise AllotmentError(
            f"{where}: expected finite megawatts in [0, {MAX_ALLOTMENT_MW:g}], got {shown(value)}"
        )
    return mw


def shown(value: object, limit: int = 80) -> str:
    """`value` as it may appear in a log line or an API reason: repr-escaped (no raw
    control characters or newlines from outside) and cut to about `limit` characters."""
    text = reprlib.repr(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class AllotmentReading:
    """One source's answer at one moment.

    mw         the allotment this source grants (MW)
    as_of      epoch seconds the figure is valid from (the feed's timestamp, the schedule
               step's start, the override's set time)
    source     the source's configured name
    change_id  identifies the signal, for the audit trail (same figure, same id)
    stale      True when a live feed has gone quiet and `mw` is its configured floor
    detail     a short human reason ("feed stale for 95 s: floor", "override by ops")
    """

    mw: float
    as_of: float
    source: str
    change_id: str
    stale: bool = False
    detail: str = ""

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.as_of)


@dataclass(frozen=True, slots=True)
class ScheduledChange:
    """A step a source knows is coming: from `at` (epoch s) its figure becomes `mw`."""

    at: float
    mw: float
    source: str


# a source's state, for the API and the metric: its figure is trusted ("ok"); a live feed
# still holds a fresh figure but its latest attempts failed ("failing"); its figure is too
# old or it never gave one, so its floor applies ("stale")
SOURCE_STATES = ("ok", "failing", "stale")


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A source's health, for metrics and the API: age of its figure, staleness, errors
    seen, and for a live feed what is wrong and since when."""

    source: str
    kind: str
    mw: float | None
    as_of: float | None
    age_s: float | None
    stale: bool
    errors: int = 0
    last_error: str = ""
    state: str = "ok"  # one of SOURCE_STATES
    reason: str = ""  # what is wrong, in one line ("" when ok)
    failing_since: float | None = None  # epoch s the trouble began

    def failing_for_s(self, now: float) -> float | None:
        return None if self.failing_since is None else max(0.0, now - self.failing_since)


@runtime_checkable
class AllotmentSource(Protocol):
    """Anything that can say what a site may draw at `now`."""

    name: str
    kind: str

    def current(self, now: float) -> AllotmentReading | None:
        """The figure in force at `now`, or None when this source does not apply then
        (an override that was cleared or ran out, a schedule that has not started)."""
        ...

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        """Steps known to start in (now, now + horizon_s], oldest first."""
        ...

    def status(self, now: float) -> SourceStatus: ...
