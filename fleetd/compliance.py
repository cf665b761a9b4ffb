"""Time and energy above the allotment, as a regulator would count them.

Two figures are kept apart:
- above the allotment in force: the figure the grid operator last granted (a stale feed
  counts with its last figure, not with fleetd's floor: SiteAllotment.in_force);
- above fleetd's fallback floor while a stale feed's floor bound the site: time fleetd
  spent bringing the site down to its own safety floor, which is not a breach of the
  allotment when the allotment was higher.

Where a site meter exists its readings are the source: each reading is set against the
allotment in force at the moment it was taken and holds until the next reading (a zero-
order hold, the way a meter's register is read), for at most `max_hold_s`; while the meter
is silent, fleetd's estimate takes over at the controller's watch ticks and the time is
counted as estimated. The totals say how many seconds each source covered, how many
readings there were and the longest gap, so the report can state its source and its
sampling interval.

`CapIntegrator` is the pure core (samples in, totals out; tests compare it with an
independent integration); `CapAccount` feeds it from a running site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

EPS_W = 1e-6  # above means above by more than this


@dataclass(frozen=True, slots=True)
class PowerSample:
    """One reading of the site's power and what it is held to at that moment."""

    t: float  # epoch s the reading was taken
    w: float  # site power, W
    allotment_w: float  # the allotment in force (granted), W
    floor_w: float | None  # fleetd's fallback floor when a stale feed binds, else None
    source: str  # "meter" | "estimate"


def source_name(meter_s: float, estimate_s: float) -> str:
    """"meter", "estimate" or "meter+estimate" by the seconds each covered ("" for none)."""
    names = [n for n, secs in (("meter", meter_s), ("estimate", estimate_s)) if secs > 0]
    return "+".join(names)


@dataclass
class CapTotals:
    """What accumulated over some span."""

    seconds: float = 0.0
    energy_j: float = 0.0
    above_s: float = 0.0  # above the allotment in force
    above_j: float = 0.0
    floor_above_s: float = 0.0  # above fleetd's stale-feed floor (while it bound)
    floor_above_j: float = 0.0
    allotment_ws: float = 0.0  # integral of the allotment in force, for its mean
    allotment_min_w: float = math.inf
    meter_s: float = 0.0  # seconds covered by meter readings
    estimate_s: float = 0.0  # ... and by fleetd's estimate
    readings: int = 0  # meter readings that started a span
    max_gap_s: float = 0.0  # longest time one meter reading stood for

    def add_span(self, s: PowerSample, dt: float) -> None:
        if dt <= 0:
            return
        self.seconds += dt
        self.energy_j += s.w * dt
        self.allotment_ws += s.allotment_w * dt
        self.allotment_min_w = min(self.allotment_min_w, s.allotment_w)
        over = s.w - s.allotment_w
        if over > EPS_W:
            self.above_s += dt
            self.above_j += over * dt
        if s.floor_w is not None and s.w - s.floor_w > EPS_W:
            self.floor_above_s += dt
            self.floor_above_j += (s.w - s.floor_w) * dt
        if s.source == "meter":
            self.meter_s += dt
        else:
            self.estimate_s += dt

    @property
    def source(self) -> str:
        """Where the figures come from: "meter", "estimate", "meter+estimate" or "none"."""
        return source_name(self.meter_s, self.estimate_s) or "none"

    @property
    def sampling_s(self) -> float | None:
        """The mean time between the meter readings used (None without readings)."""
        return self.meter_s / self.readings if self.readings else None

    def describe(self) -> str:
        """One line: the source and its sampling interval, for the API and the report."""
        if self.meter_s <= 0:
            return "fleetd's estimate (rig figures, overhead and firm loads)"
        text = (f"site meter readings, every {self.sampling_s:.2f} s on average "
                f"({self.max_gap_s:.2f} s at most)")  # fmt: skip
        if self.estimate_s > 0:
            text += f"; fleetd's estimate for {self.estimate_s:.1f} s while the meter was silent"
        return text

    def as_sample_fields(self) -> dict[str, Any]:
        """The fields a compliance sample (fleetd.control.samples) records."""
        mean = self.allotment_ws / self.seconds if self.seconds > 0 else 0.0
        return {
            "energy_j": round(self.energy_j, 1), "above_s": round(self.above_s, 3),
            "above_j": round(self.above_j, 1), "above_floor_s": round(self.floor_above_s, 3),
            "above_floor_j": round(self.floor_above_j, 1), "allotment_w": round(mean, 1),
            "allotment_min_w": round(self.allotment_min_w, 1)
            if math.isfinite(self.allotment_min_w) else None,
            "meter_s": round(self.meter_s, 3), "estimate_s": round(self.estimate_s, 3),
            "readings": self.readings, "max_gap_s": round(self.max_gap_s, 3),
        }  # fmt: skip


class CapIntegrator:
    """Samples in time order; each holds until the next (at most `max_hold_s`)."""

    def __init__(self, max_hold_s: float = math.inf) -> None:
        self.max_hold_s = max_hold_s
        self.total = CapTotals()
        self.interval = CapTotals()  # since the last take_interval()
        self.last: PowerSample | None = None  # the reading held, from where it was counted
        self._taken_at = -math.inf  # when the held reading was taken
        self._hold_until = -math.inf

    def _close(self, until: float) -> None:
        s = self.last
        if s is None:
            return
        dt = min(until, self._hold_until) - s.t
        self.total.add_span(s, dt)
        self.interval.add_span(s, dt)

    def add(self, s: PowerSample) -> None:
        """A new reading: the previous one's span ends here. A reading older than the one
        held is ignored (readings arrive in order; a clock step back must not count twice)."""
        if self.last is not None and s.t < self.last.t:
            return
        self._close(s.t)
        if self.last is not None and self.last.source == "meter":
            gap = min(s.t, self._hold_until) - self._taken_at
            for tot in (self.total, self.interval):
                tot.max_gap_s = max(tot.max_gap_s, gap)
        if s.source == "meter":
            self.total.readings += 1
            self.interval.readings += 1
        self.last, self._taken_at, self._hold_until = s, s.t, s.t + self.max_hold_s

    def take_interval(self, now: float) -> CapTotals:
        """Close the span so far at `now` and start a new interval there (the held reading
        carries on into it, up to its hold)."""
        if self.last is not None and now > self.last.t:
            self._close(now)
            self.last = replace(self.last, t=min(now, self._hold_until))
        out, self.interval = self.interval, CapTotals()
        return out


def integrate(samples: list[PowerSample], until: float, max_hold_s: float = math.inf) -> CapTotals:
    """The totals of `samples` up to `until` (a convenience over CapIntegrator)."""
    integ = CapIntegrator(max_hold_s)
    for s in samples:
        integ.add(s)
    integ.take_interval(until)
    return integ.total


@dataclass
class CapAccount:
    """Feeds a CapIntegrator from a running site: a sample per new meter reading while the
    meter is fresh, else one of fleetd's estimate per `update()` (the watch tick)."""

    site: Any  # fleetd.control.site.Site: its meter and allotment
    integ: CapIntegrator = field(init=False)
    _read_at: float | None = None

    def __post_init__(self) -> None:
        meter = self.site.meter
        hold = meter.stale_after_s if meter is not None else math.inf
        self.integ = CapIntegrator(hold)

    def held_to(self, t: float) -> tuple[float, float | None]:
        """(allotment in force, fallback floor if a stale feed binds) at `t`, in W."""
        allot = self.site.allotment
        eff = allot.effective(t)
        return allot.in_force(t).watts, (eff.watts if eff.stale else None)

    def update(self, now: float, estimate_w: float) -> None:
        meter = self.site.meter
        if meter is not None and meter.current_w(now) is not None:
            if meter.read_at != self._read_at:
                self._read_at = meter.read_at
                t = float(meter.read_at)
                self.integ.add(PowerSample(t, float(meter.value_w), *self.held_to(t), "meter"))
            return
        self.integ.add(PowerSample(now, estimate_w, *self.held_to(now), "estimate"))

    def take_interval(self, now: float) -> CapTotals:
        return self.integ.take_interval(now)

    @property
    def total(self) -> CapTotals:
        return self.integ.total

    def source_text(self) -> str:
        return self.integ.total.describe()

