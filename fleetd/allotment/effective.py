"""The effective allotment: the lowest figure among the sources that apply, and why.

`effective(readings)` is the rule itself, pure. `SiteAllotment` holds a site's sources,
reads them at `now`, and also folds their announced steps into one timetable (the
lowest figure in force at each future moment) that fleetd.budget.AllotmentSchedule turns
into a plan that is already under a scheduled cut when it starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    AllotmentSource,
    ScheduledChange,
    SourceStatus,
)
from fleetd.allotment.override import OverrideSource
from fleetd.budget import W_PER_MW, AllotmentSchedule


@dataclass(frozen=True, slots=True)
class Effective:
    """What a site may draw now.

    mw         the binding figure (0 when no source applies: silence never grants power)
    bound_by   name of the source that set it ("" when none applies)
    change_id  the binding reading's id, for the audit trail
    reason     one line for logs and the API, e.g. "feed 'tso' 312.0 MW (stale: floor)"
    readings   every source that applied, in source order
    """

    mw: float
    bound_by: str
    change_id: str
    reason: str
    readings: tuple[AllotmentReading, ...]

    @property
    def watts(self) -> float:
        return self.mw * W_PER_MW

    @property
    def stale(self) -> bool:
        """The binding figure is a stale feed's floor."""
        return any(r.stale and r.source == self.bound_by for r in self.readings)


def effective(readings: Iterable[AllotmentReading | None]) -> Effective:
    """Min of the readings that apply; ties go to the first listed source."""
    live = tuple(r for r in readings if r is not None)
    if not live:
        return Effective(0.0, "", "none", "no allotment source applies: 0 MW", ())
    best = live[0]
    for r in live[1:]:
        if r.mw < best.mw:
            best = r
    reason = f"{best.source} {best.mw:g} MW"
    if best.detail:
        reason += f" ({best.detail})"
    if len(live) > 1:
        others = ", ".join(f"{r.source} {r.mw:g}" for r in live if r is not best)
        reason += f"; others: {others}"
    return Effective(best.mw, best.source, best.change_id, reason, live)


def envelope(
    now: float, current: Sequence[AllotmentReading | None], changes: Iterable[ScheduledChange],
    sources: Sequence[str],
) -> list[tuple[float, float]]:
    """(epoch s, MW) steps of the lowest figure from `now` on, given each source's figure
    now (`current`, aligned with `sources`) and the steps they announced."""
    level = {
        name: (r.mw if r is not None else math.inf)
        for name, r in zip(sources, current, strict=True)
    }

    def low() -> float:
        v = min(level.values(), default=math.inf)
        return 0.0 if math.isinf(v) else v

    out = [(now, low())]
    for ch in sorted(changes, key=lambda c: c.at):
        if ch.at <= now or ch.source not in level:
            continue
        level[ch.source] = ch.mw
        v = low()
        if out[-1][0] == ch.at:
            out[-1] = (ch.at, v)
        elif v != out[-1][1]:
            out.append((ch.at, v))
    # merge equal neighbours left by same-time updates
    merged = [out[0]]
    for t, v in out[1:]:
        if v != merged[-1][1]:
            merged.append((t, v))
    return merged


class SiteAllotment:
    """A site's allotment sources, read together."""

    def __init__(self, sources: Sequence[AllotmentSource]) -> None:
        names = [s.name for s in sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise AllotmentError(
                f"allotment sources must have distinct names; repeated: {sorted(dup)}"
            )
        self.sources = list(sources)

    def source(self, name: str) -> AllotmentSource:
        for s in self.sources:
            if s.name == name:
                return s
        have = ", ".join(s.name for s in self.sources)
        raise KeyError(f"no allotment source {name!r}; have {have}")

    @property
    def override(self) -> OverrideSource | None:
        """The operator override source, if the site has one."""
        return next((s for s in self.sources if isinstance(s, OverrideSource)), None)

    def feeds(self) -> list[AllotmentSource]:
        """Sources with a `run()` coroutine the daemon must keep running (live feeds)."""
        return [s for s in self.sources if callable(getattr(s, "run", None))]

    def effective(self, now: float) -> Effective:
        return effective(s.current(now) for s in self.sources)

    def in_force(self, now: float) -> Effective:
        """The allotment the grid operator last granted: like `effective`, but a stale
        feed counts with its last figure instead of fleetd's fallback floor (a feed that
        never gave one still counts with its floor). What the compliance report holds
        the site to; `effective` is what fleetd steers by."""
        return effective(getattr(s, "in_force", s.current)(now) for s in self.sources)

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        out = [c for s in self.sources for c in s.next_changes(now, horizon_s)]
        return sorted(out, key=lambda c: (c.at, c.source))

    def timetable(self, now: float, horizon_s: float) -> list[tuple[float, float]]:
        """The effective figure now and at each announced step within the horizon (MW)."""
        return envelope(
            now, [s.current(now) for s in self.sources], self.next_changes(now, horizon_s),
            [s.name for s in self.sources],
        )  # fmt: skip

    def schedule(self, now: float, horizon_s: float) -> AllotmentSchedule:
        """The timetable as fleetd.budget.AllotmentSchedule (watts), for effective_w()."""
        return AllotmentSchedule.from_mw(self.timetable(now, horizon_s))

    def status(self, now: float) -> list[SourceStatus]:
        return [s.status(now) for s in self.sources]
