"""Splitting one portfolio allotment among an operator's sites: a pure function.

    lo, hi = bounds(limits, report, previous_mw, since_s, cut_within_s)
    result = split(portfolio_mw, [SiteInput(...), ...], "pro_rata" | "merit" | "priority")

Each site gets an allotment in [lo, hi]:
- `hi` is its licence, and no more than its previous allotment plus its ramp-up limit over
  the time since (a site that ramps slowly is not handed megawatts it cannot use yet);
- `lo` is what it can reach within `cut_within_s` (the time a portfolio cut allows): its
  metered draw less what it reports it can shed in that time (its sheddable MW, at its
  shed speed, and its ramp-down limit). A cut therefore lands first where it can land in
  time, and the total stays under the portfolio whenever the sites can get there;
- an operator's override pins a site (lo = hi = the override).

Every site gets its `lo` first. What is left of the portfolio goes out by the policy:
- pro_rata: one group, in proportion to each site's weight (its configured portfolio
  share, or else its licence);
- merit: best J/TH first (the lowest joules per terahash: most hashrate per MW); sites
  whose J/TH is unknown come last;
- priority: priority class 1 first, then 2, ...; within a class pro rata to weight.
Within a group the share is exact pro rata where no bound binds: each site gets
clip(λ·weight, lo, hi), with λ such that the group's total is what it is given.

When the lower bounds alone exceed the portfolio the result holds every site at `lo`
and says by how much it is short (`shortfall_mw`): the sites cannot get under the new
figure in time, and the operator must know.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Policy = Literal["pro_rata", "merit", "priority"]
POLICIES: tuple[Policy, ...] = ("pro_rata", "merit", "priority")
SLEEP_W = 30.0  # what an asleep rig still draws (DESIGN.md: 25-30 W)


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """What the operator configured for a site."""

    licence_mw: float
    shed_s: float = 30.0  # how long the site takes to shed what it can (fleetd + rigs)
    ramp_up_mw_per_min: float | None = None
    ramp_down_mw_per_min: float | None = None


@dataclass(frozen=True, slots=True)
class SiteReport:
    """What a site's fleetd reported: its metered draw, what of it can be shed, and its
    efficiency (J/TH at the meter, overhead included)."""

    draw_mw: float
    sheddable_mw: float
    jth: float | None = None
    ths: float = 0.0  # the hashrate its rigs report (TH/s)


@dataclass(frozen=True, slots=True)
class SiteInput:
    name: str
    lo_mw: float
    hi_mw: float
    weight: float = 1.0  # pro rata weight (share or licence)
    priority: int = 1
    jth: float | None = None


@dataclass(frozen=True)
class Split:
    allotments: dict[str, float]
    shortfall_mw: float = 0.0  # lower bounds above the portfolio by this much
    unallocated_mw: float = 0.0  # every site at its upper bound, this much left over
    bound: dict[str, str] = field(default_factory=dict)  # site -> "lo", "hi" or "policy"

    @property
    def total_mw(self) -> float:
        return math.fsum(self.allotments.values())


def bounds(
    limits: SiteLimits,
    report: SiteReport | None,
    previous_mw: float | None,
    since_s: float,
    cut_within_s: float,
    pinned_mw: float | None = None,
) -> tuple[float, float]:
    """(lo, hi) for one site (see the module's docstring). Without a report (the site's
    API did not answer) the site is taken to draw its previous allotment (or its licence)
    and to shed it at its configured speed: its fleetd still obeys the feed."""
    licence = max(0.0, limits.licence_mw)
    if pinned_mw is not None:
        pin = min(max(0.0, pinned_mw), licence)
        return pin, pin
    hi = licence
    if limits.ramp_up_mw_per_min is not None and previous_mw is not None:
        hi = min(hi, previous_mw + limits.ramp_up_mw_per_min * max(0.0, since_s) / 60.0)
    if report is None:
        draw = licence if previous_mw is None else min(previous_mw, licence)
        sheddable = draw
    else:
        draw, sheddable = max(0.0, report.draw_mw), max(0.0, report.sheddable_mw)
    fraction = 1.0 if limits.shed_s <= cut_within_s else cut_within_s / limits.shed_s
    can_shed = min(sheddable, draw) * fraction
    if limits.ramp_down_mw_per_min is not None:
        can_shed = min(can_shed, limits.ramp_down_mw_per_min * cut_within_s / 60.0)
    lo = min(max(0.0, draw - can_shed), licence)
    return lo, max(lo, hi)


def _fill(sites: Sequence[SiteInput], total: float) -> dict[str, float]:
    """clip(λ·w, lo, hi) per site with the sum equal to `total` (Σlo <= total <= Σhi)."""
    lo_sum = math.fsum(s.lo_mw for s in sites)
    if total <= lo_sum:
        return {s.name: s.lo_mw for s in sites}
    if total >= math.fsum(s.hi_mw for s in sites):
        return {s.name: s.hi_mw for s in sites}

    def at(lam: float) -> float:
        return math.fsum(min(max(lam * s.weight, s.lo_mw), s.hi_mw) for s in sites)

    top = max((s.hi_mw / s.weight for s in sites if s.weight > 0), default=0.0)
    low, high = 0.0, top
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if at(mid) <= total:
            low = mid
        else:
            high = mid
    out = {s.name: min(max(low * s.weight, s.lo_mw), s.hi_mw) for s in sites}
    # the rest of a rounding step goes to the first site with room (never above total)
    gap = total - math.fsum(out.values())
    for s in sites:
        if gap <= 0:
            break
        add = min(gap, s.hi_mw - out[s.name])
        out[s.name] += add
        gap -= add
    return out


def _groups(sites: Sequence[SiteInput], policy: Policy) -> list[list[SiteInput]]:
    if policy == "pro_rata":
        return [list(sites)]
    if policy == "priority":
        keys = sorted({s.priority for s in sites})
        return [[s for s in sites if s.priority == k] for k in keys]
    known = sorted({s.jth for s in sites if s.jth is not None})
    groups = [[s for s in sites if s.jth == j] for j in known]
    unknown = [s for s in sites if s.jth is None]
    return groups + ([unknown] if unknown else [])


def split(portfolio_mw: float, sites: Sequence[SiteInput], policy: Policy) -> Split:
    """The portfolio split among `sites` by `policy` (see the module's docstring)."""
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if not math.isfinite(portfolio_mw) or portfolio_mw < 0:
        raise ValueError(f"portfolio of {portfolio_mw!r} MW; expected a finite figure >= 0")
    names = [s.name for s in sites]
    if len(set(names)) != len(names):
        raise ValueError("site names must be distinct")
    for s in sites:
        if not (0 <= s.lo_mw <= s.hi_mw and math.isfinite(s.hi_mw) and s.weight >= 0):
            raise ValueError(f"site {s.name!r}: expected 0 <= lo <= hi and weight >= 0")
    lo_sum = math.fsum(s.lo_mw for s in sites)
    out = {s.name: s.lo_mw for s in sites}
    if lo_sum >= portfolio_mw:
        return Split(out, shortfall_mw=lo_sum - portfolio_mw, bound={s.name: "lo" for s in sites})
    left = portfolio_mw - lo_sum
    for group in _groups(sites, policy):
        if left <= 0:
            break
        room = math.fsum(s.hi_mw - s.lo_mw for s in group)
        give = min(left, room)
        out.update(_fill(group, math.fsum(s.lo_mw for s in group) + give))
        left -= give
    bound = {}
    for s in sites:
        a = out[s.name]
        bound[s.name] = "hi" if a >= s.hi_mw else "lo" if a <= s.lo_mw else "policy"
    return Split(out, unallocated_mw=max(0.0, left), bound=bound)
