"""Site power against the allotment, sample by sample, from the meters' truth (pure).

A site may be above its allotment only while it responds to an unannounced drop: for at
most `allowance_s` after the drop (the feed's poll, fleetd's re-plan and command
fan-out, and the rigs' own ramp down). Any other second above the cap is a breach. A
scheduled drop is not an excuse: fleetd sheds ahead of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RESPONSE_ALLOWANCE_S = 15.0  # documented response time to an unannounced drop


@dataclass
class SiteRecord:
    site: str
    samples: int = 0
    seconds: float = 0.0
    energy_kwh: float = 0.0
    allotted_kwh: float = 0.0
    breach_s: float = 0.0  # above the cap, not answering an unannounced drop
    response_s: float = 0.0  # above the cap while answering one (allowed)
    max_over_kw: float = 0.0  # outside responses
    drops_seen: set[float] = field(default_factory=set)
    drops_answered: set[float] = field(default_factory=set)
    responses: list[float] = field(default_factory=list)  # drop -> back under the cap, s
    last_t: float | None = None
    max_w: float = 0.0
    min_headroom_kw: float | None = None

    @property
    def compliant(self) -> bool:
        return self.breach_s == 0.0

    @property
    def drops(self) -> int:
        return len(self.drops_seen)

    @property
    def worst_response_s(self) -> float | None:
        return max(self.responses) if self.responses else None


class ComplianceWatch:
    def __init__(self, sites: list[str], allowance_s: float = RESPONSE_ALLOWANCE_S) -> None:
        self.allowance_s = allowance_s
        self.sites = {s: SiteRecord(s) for s in sites}

    def add(self, site: str, t: float, site_w: float, cap_w: float,
            drop_at: float | None = None) -> None:  # fmt: skip
        """One sample: the site meter's truth and the allotment in force at `t`;
        `drop_at`: when the unannounced drop in force began, if one is."""
        r = self.sites[site]
        dt = 0.0 if r.last_t is None else max(0.0, t - r.last_t)
        r.last_t = t
        r.samples += 1
        r.seconds += dt
        r.energy_kwh += site_w * dt / 3.6e6
        r.allotted_kwh += cap_w * dt / 3.6e6
        r.max_w = max(r.max_w, site_w)
        headroom = (cap_w - site_w) / 1e3
        r.min_headroom_kw = headroom if r.min_headroom_kw is None \
            else min(r.min_headroom_kw, headroom)  # fmt: skip
        over = site_w > cap_w
        if drop_at is not None:
            if drop_at not in r.drops_seen:
                r.drops_seen.add(drop_at)
            if not over and drop_at not in r.drops_answered:
                r.drops_answered.add(drop_at)
                r.responses.append(max(0.0, t - drop_at))
        answering = drop_at is not None and t - drop_at <= self.allowance_s
        if over:
            if answering:
                r.response_s += dt
            else:
                r.breach_s += dt
                r.max_over_kw = max(r.max_over_kw, (site_w - cap_w) / 1e3)

    @property
    def compliant(self) -> bool:
        return all(r.compliant for r in self.sites.values())
