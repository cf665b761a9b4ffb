"""The miners' power budget: what is left of the allotment for the rigs, now and ahead.

Pure arithmetic, no I/O. Watts throughout (MW only in the from_mw constructor).

The site's draw is  firm + aux + pue * meter_factor * (what the planner counts for rigs),
so the planner's budget is the allotment, less the safety margin, firm loads and fixed
auxiliary load, divided by the PUE and by how much the meter reads above the rigs'
own figures (5-20 % is usual).

Schedules: a cut must be met when it starts, and shedding takes time, so the budget at
`now` already honours any cut that starts within `lead_s` (one control period plus
the rigs' shed response). With a ramp-down limit the cut is approached along a line at
that rate, so the site reaches the new cap exactly on time without dropping faster than
the grid operator allows. Waking is slow and a woken rig must stay up for its hold time,
so new wakes are held to the lowest cap in the window a wake commits to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

W_PER_MW = 1e6


class BudgetError(ValueError):
    """A budget or schedule input is unusable (the message names it)."""


def _finite(name: str, value: float, *, low: float = 0.0) -> float:
    v = float(value)
    if not math.isfinite(v) or v < low:
        raise BudgetError(f"{name}: expected a finite number >= {low}, got {value!r}")
    return v


@dataclass(frozen=True)
class SiteLoads:
    """What a site draws besides its rigs, and how its meter sees the rigs: the site meter
    reads  firm + aux + pue * meter_factor * (what the planner counts for the rigs)."""

    firm_w: float = 0.0  # loads that are never throttled
    pue: float = 1.0
    aux_w: float = 0.0  # the fixed auxiliary load
    meter_factor: float = 1.0  # how much the meter reads above the rigs' own figures

    def miner_budget_w(
        self, allotment_w: float, *, margin_frac: float = 0.0, margin_w: float = 0.0
    ) -> float:
        """Watts the planner may give the rigs (never below 0: firm loads are not throttled)."""
        allotment = _finite("allotment_w", allotment_w)
        firm = _finite("firm_w", self.firm_w)
        p = _finite("pue", self.pue, low=1.0)
        aux = _finite("aux_w", self.aux_w)
        frac = _finite("margin_frac", margin_frac)
        if frac >= 1.0:
            raise BudgetError(f"margin_frac: expected a share in [0, 1), got {margin_frac!r}")
        margin = _finite("margin_w", margin_w)
        factor = _finite("meter_factor", self.meter_factor)
        if factor <= 0:
            raise BudgetError(f"meter_factor: expected > 0, got {self.meter_factor!r}")
        left = allotment * (1.0 - frac) - margin - firm - aux
        return max(0.0, left / (p * factor))

    def draw_w(self, miners_w: float) -> float:
        """The inverse of miner_budget_w: what the site meter should read for a rig load."""
        return self.firm_w + self.aux_w + self.pue * self.meter_factor * miners_w


@dataclass(frozen=True)
class AllotmentSchedule:
    """A step function of time: allotment_w[i] applies from times_s[i] until the next time."""

    times_s: np.ndarray  # float64 epoch seconds, strictly increasing
    allotment_w: np.ndarray  # float64 W, >= 0

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, dtype=float)
        a = np.asarray(self.allotment_w, dtype=float)
        if t.ndim != 1 or t.size == 0 or a.shape != t.shape:
            raise BudgetError(
                f"schedule: expected equal-length non-empty times and allotments, got "
                f"{t.shape} and {a.shape}"
            )
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise BudgetError("schedule times_s: expected finite, strictly increasing times")
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise BudgetError("schedule allotment_w: expected finite watts >= 0")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "allotment_w", a)

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float]]) -> AllotmentSchedule:
        """From (epoch seconds, W) pairs, in any order."""
        pts = sorted(points)
        return cls(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))

    @classmethod
    def from_mw(cls, points: Iterable[tuple[float, float]]) -> AllotmentSchedule:
        """From (epoch seconds, MW) pairs."""
        return cls.from_points((t, mw * W_PER_MW) for t, mw in points)

    @classmethod
    def constant(cls, allotment_w: float, since_s: float = -math.inf) -> AllotmentSchedule:
        return cls(np.array([max(since_s, -1e300)]), np.array([allotment_w]))

    def _index(self, t: float) -> int:
        i = int(np.searchsorted(self.times_s, t, side="right")) - 1
        if i < 0:
            raise BudgetError(
                f"schedule starts at {self.times_s[0]:.0f}; no allotment is known for {t:.0f}"
            )
        return i

    def at(self, t: float) -> float:
        """The allotment in force at time t."""
        return float(self.allotment_w[self._index(t)])

    def min_over(self, t0: float, t1: float) -> float:
        """The lowest allotment in force at any time in [t0, t1]."""
        i = self._index(t0)
        j = int(np.searchsorted(self.times_s, t1, side="right"))
        return float(self.allotment_w[i : max(j, i + 1)].min())

    def effective_w(self, now: float, lead_s: float, ramp_down_w_per_s: float = math.inf) -> float:
        """The cap to plan for at `now` so that every upcoming cap is met when it starts.

        A step to C at time t (t > now) bounds the plan at now by C once now >= t - lead_s;
        with a finite ramp-down rate r, by C + r * (t - lead_s - now) before that.
        """
        lead = _finite("lead_s", lead_s)
        rate = float(ramp_down_w_per_s)
        if not (rate > 0):
            raise BudgetError(f"ramp_down_w_per_s: expected > 0, got {ramp_down_w_per_s!r}")
        cap = self.at(now)
        ahead = self.times_s > now
        t = self.times_s[ahead]
        c = self.allotment_w[ahead]
        early = np.maximum(t - lead - now, 0.0)
        bound = np.where(early > 0, np.inf, c) if math.isinf(rate) else c + rate * early
        return float(min(cap, bound.min())) if bound.size else cap

    def wake_w(
        self, now: float, lead_s: float, horizon_s: float, ramp_down_w_per_s: float = math.inf
    ) -> float:
        """Cap for load that includes newly woken rigs: a wake commits a rig for its boot
        plus its awake hold (`horizon_s`), so it must fit every cap in that window."""
        horizon = _finite("horizon_s", horizon_s)
        lead = _finite("lead_s", lead_s)
        return min(
            self.effective_w(now, lead, ramp_down_w_per_s),
            self.min_over(now, now + lead + horizon),
        )


def wake_horizon_s(boot_s: float, min_awake_s: float) -> float:
    """How long a wake commits a rig: until it boots, then for its minimum awake time."""
    return _finite("boot_s", boot_s) + _finite("min_awake_s", min_awake_s)
