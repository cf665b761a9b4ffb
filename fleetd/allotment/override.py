"""The operator's override: a cap set by hand (through the API) that lapses by itself.

An override always expires: a forgotten cap would keep a site curtailed for days. Under
the min-of rule it can only tighten what the other sources grant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    ScheduledChange,
    SourceStatus,
    check_mw,
)

MAX_OVERRIDE_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Override:
    mw: float
    set_at: float
    expires_at: float
    reason: str
    by: str
    change_id: str


@dataclass
class OverrideSource:
    name: str = "override"
    max_duration_s: float = MAX_OVERRIDE_S
    kind: str = field(default="override", init=False)
    active: Override | None = field(default=None, init=False)
    _count: int = field(default=0, init=False)

    def set(
        self,
        mw: float,
        *,
        now: float,
        ttl_s: float | None = None,
        until: float | None = None,
        reason: str = "",
        by: str = "operator",
    ) -> Override:
        """Cap the site at `mw` from `now` for `ttl_s` seconds or until epoch `until`."""
        mw = check_mw(f"{self.name}: mw", mw)
        if ttl_s is not None and until is None:
            expires = now + float(ttl_s)
        elif until is not None and ttl_s is None:
            expires = float(until)
        else:
            raise AllotmentError(f"{self.name}: expected exactly one of ttl_s or until")
        if not (math.isfinite(expires) and expires > now):
            raise AllotmentError(
                f"{self.name}: expiry must lie in the future, got {expires!r} at now={now!r}"
            )
        if expires - now > self.max_duration_s:
            raise AllotmentError(
                f"{self.name}: an override may last at most {self.max_duration_s:g} s; "
                f"got {expires - now:g} s"
            )
        self._count += 1
        self.active = Override(mw, now, expires, reason, by, f"{self.name}#{self._count}")
        return self.active

    def clear(self) -> Override | None:
        """Remove the override; returns the one removed (None if there was none)."""
        old, self.active = self.active, None
        return old

    def _live(self, now: float) -> Override | None:
        o = self.active
        if o is not None and now >= o.expires_at:
            self.active = None
            return None
        return o

    def current(self, now: float) -> AllotmentReading | None:
        o = self._live(now)
        if o is None:
            return None
        detail = f"override by {o.by}" + (f": {o.reason}" if o.reason else "")
        return AllotmentReading(o.mw, o.set_at, self.name, o.change_id, detail=detail)

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        """The lapse of an override is not a cut, so it never needs pre-shedding."""
        return []

    def status(self, now: float) -> SourceStatus:
        o = self._live(now)
        if o is None:
            return SourceStatus(self.name, self.kind, None, None, None, stale=False)
        return SourceStatus(self.name, self.kind, o.mw, o.set_at, now - o.set_at, stale=False)
