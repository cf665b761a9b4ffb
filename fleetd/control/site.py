"""A site as the controller runs it: its rigs and drivers, allotment sources, meters, and
the arithmetic from allotment to the miners' power budget.

    site = fleetd.build.build_site("north", cfg.sites["north"], cfg.rigs("north"))
    b = site.budget(now)   # SiteBudget: what the planner may give the rigs, and why

A Site is given its parts (fleetd.build makes them from the config), so the control loop
and the site it runs sit in one package, below what assembles them.

The budget follows the recipe of fleetd.budget: the allotment (lowest applying source,
with scheduled cuts pre-shed `lead_s` ahead: one control period plus the rigs' response),
less margin, firm loads and auxiliary load, over PUE and the meter factor.
New wakes get the lower `wake_budget_w`: a woken rig must fit every cap until it has
served its hold.

The meter factor is what the site meter reads over what the rigs' own figures say it
should (firm + aux + PUE x rigs). With a site meter it is learnt (closing the loop on
measured power) while the site is settled: no command on its way, none answered within
the rigs' response time. Each rig counts at the higher of its target and what it reports
(`counted_rigs_w`), except a rig booting or ramping, which counts at what it reports: a
rig booting at 120 W towards a 3 kW target teaches the loop nothing false either way.
The factor only ever tightens the plan: below the configured `meter_factor` it is not
used, so the correction can never lift the plan above what the rigs' own figures allow
under the cap. It moves by `meter_learn_rate` per settled plan, up and down alike (noise
does not ratchet it up); a meter reading above the allotment is believed at once
(`learn_up`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetd.allotment import Effective, OverrideSource, SiteAllotment
from fleetd.budget import SiteLoads, wake_horizon_s
from fleetd.config import RigSpec, SiteConfig
from fleetd.control.book import RigBook
from fleetd.control.meter import Meter
from fleetd.control.thermal import ThermalCaps, ThermalPolicy
from fleetd.drivers import Control, Driver
from fleetd.models import DEFAULT_CATALOG, ModelCatalog
from fleetd.planner import PlannerConfig, RigState

Clock = Callable[[], float]


@dataclass(frozen=True)
class ControlTuning:
    """Controller settings that are not in the site's TOML (tests and demos compress them).

    response_s   how long rigs take to carry out a shed (command fan-out + their ramp down);
                 scheduled cuts are pre-shed one period plus this much ahead, and the meter
                 factor is learnt only this long after the last command's answer
    grace_s      how long a command may take to show in telemetry before it is re-sent
                 (default: two control periods, at least response_s)
    watch_s      how often the allotment, meters and firm loads are checked between plans
                 (a drop re-plans at once, whatever the rigs' I/O is doing)
    first_plan_s how long the first plan waits for every rig's first reading (and the
                 meter's and feeds' first figures; at most half a period); rigs not read by
                 then are counted from the site meter, and new readings re-plan until all
                 are read
    slow_command_s  a shed on its way for longer counts at what the rig still draws, and
                 the other rigs cover for it (fleetd.control.book.RigBook.view)

    `for_site(config)` takes response_s and the meter learning from the site's TOML.
    """

    response_s: float = 10.0
    grace_s: float | None = None
    watch_s: float = 0.25
    thermal: ThermalPolicy = field(default_factory=ThermalPolicy)
    meter_factor_bounds: tuple[float, float] = (0.8, 1.5)
    meter_learn_rate: float = 0.3
    replan_drop_frac: float = 0.002  # a budget this much below the last plan's re-plans at once
    first_plan_s: float = 1.0
    slow_command_s: float = 1.0

    @classmethod
    def for_site(cls, config: SiteConfig) -> ControlTuning:
        return cls(response_s=config.response_s, meter_learn_rate=config.meter_learn_rate,
                   meter_factor_bounds=(0.5, config.meter_factor_max))  # fmt: skip

    def grace_for(self, period_s: float) -> float:
        return self.grace_s if self.grace_s is not None else max(2.0 * period_s, self.response_s)


@dataclass(frozen=True, slots=True)
class SiteBudget:
    """One budget decision and the figures behind it (watts)."""

    at: float
    effective: Effective  # the allotment in force now, and which source set it
    allotment_w: float  # in force now
    planned_cap_w: float  # the cap planned for (lower than now if a cut is due soon)
    miner_w: float  # the planner's budget
    wake_w: float  # the budget that may include new wakes
    firm_w: float
    meter_factor: float
    lead_s: float


def _control_of(driver: Driver, spec: RigSpec) -> Control:
    """The rig's control as its driver declares it (the family's default otherwise)."""
    control = getattr(driver, "control", None)
    return control if isinstance(control, Control) else Control.default(spec.firmware)


class Site:
    """Everything one site's control loop needs, without the loop itself."""

    def __init__(
        self,
        name: str,
        config: SiteConfig,
        specs: Sequence[RigSpec],
        allotment: SiteAllotment,
        drivers: Sequence[Driver],
        *,
        catalog: ModelCatalog = DEFAULT_CATALOG,
        meter: Meter | None = None,
        firm_meters: dict[str, Meter] | None = None,
        tuning: ControlTuning | None = None,
        clock: Clock = time.time,
    ) -> None:
        if len(specs) != len(drivers):
            raise ValueError(f"site {name!r}: one driver per rig expected")
        self.name = name
        self.config = config
        self.specs = list(specs)
        self.allotment = allotment
        self.drivers = list(drivers)
        self.catalog = catalog
        self.meter = meter
        self.firm_meters = dict(firm_meters or {})
        self.tuning = tuning or ControlTuning.for_site(config)
        self.clock = clock
        self.planner_config: PlannerConfig = config.planner_config()
        model_ids = [catalog.model_id(s.model) for s in self.specs]
        controls = [_control_of(d, s) for d, s in zip(self.drivers, self.specs, strict=True)]
        self.granularity = [c.granularity.value for c in controls]
        fw = [int(c.granularity.planner) for c in controls]
        # each rig's response time (fleetd.drivers.control): how long after a command's
        # answer its draw may still be above the lower target
        self.response_s = np.array([c.response_or(self.tuning.response_s) for c in controls],
                                   dtype=np.float64)  # fmt: skip
        self.book = RigBook([s.host for s in self.specs], model_ids, fw, catalog)
        mid = np.asarray(model_ids, dtype=np.intp)
        self.thermal = ThermalCaps(
            catalog.nameplate_w[mid], catalog.max_w[mid], self.tuning.thermal
        )
        self.boot_s = catalog.boot_s[mid]
        self.learned_factor: float | None = None
        self.override: OverrideSource | None = next(
            (s for s in allotment.sources if isinstance(s, OverrideSource)), None
        )

    # ------------------------------------------------------------------ background inputs

    def feeds(self) -> list:
        """Allotment feeds and meters that must run (poll/subscribe) beside the loop."""
        sources = self.allotment.sources
        runners: list[object] = [s for s in sources if callable(getattr(s, "run", None))]
        runners += [m for m in (self.meter, *self.firm_meters.values()) if m is not None]
        return runners

    # ------------------------------------------------------------------ power arithmetic

    @property
    def period_s(self) -> float:
        return self.config.control_period_s

    @property
    def lead_s(self) -> float:
        return self.period_s + self.max_response_s

    @property
    def max_response_s(self) -> float:
        """The slowest rig's response time (the site's figure without rigs)."""
        return float(self.response_s.max()) if self.response_s.size else self.tuning.response_s

    def firm_w(self, now: float) -> float:
        """Firm loads: metered where the meter is fresh, else the declared / worst case."""
        total = 0.0
        for f in self.config.firm_loads:
            m = self.firm_meters.get(f.name)
            w = m.current_w(now) if m is not None else None
            total += w if w is not None else f.declared_kw * 1e3
        return total

    def meter_factor(self) -> float:
        """The factor the budget uses: the learnt one, never below the configured one."""
        cfg = self.config.meter_factor
        if self.meter is not None and self.learned_factor is not None:
            return max(cfg, self.learned_factor)
        return cfg

    def budget(self, now: float) -> SiteBudget:
        eff = self.allotment.effective(now)
        pc = self.planner_config
        max_boot = float(np.max(self.boot_s)) if self.boot_s.size else 0.0
        horizon = wake_horizon_s(max_boot, pc.min_awake_s)
        sched = self.allotment.schedule(now, self.lead_s + horizon + self.period_s)
        rate = pc.ramp_down_w_per_s
        cap = min(eff.watts, sched.effective_w(now, self.lead_s, rate))
        wake_cap = min(cap, sched.wake_w(now, self.lead_s, horizon, rate))
        loads, c = self.loads(now), self.config
        margins = {"margin_frac": c.margin_pct / 100.0, "margin_w": c.margin_kw * 1e3}
        return SiteBudget(
            at=now, effective=eff, allotment_w=eff.watts, planned_cap_w=cap,
            miner_w=loads.miner_budget_w(cap, **margins),
            wake_w=loads.miner_budget_w(wake_cap, **margins),
            firm_w=loads.firm_w, meter_factor=loads.meter_factor, lead_s=self.lead_s,
        )  # fmt: skip

    def loads(self, now: float) -> SiteLoads:
        """The site's draw besides its rigs now, and the meter factor the budget uses."""
        overhead = self.config.overhead
        return SiteLoads(firm_w=self.firm_w(now), pue=overhead.pue,
                         aux_w=overhead.aux_kw * 1e3, meter_factor=self.meter_factor())  # fmt: skip

    def estimate_site_w(self, now: float, rig_w: float) -> float:
        """What the site meter should read for `rig_w` of rigs (firm + aux + PUE x rigs)."""
        return self.loads(now).draw_w(rig_w)

    def rigs_w(self, now: float) -> float:
        """The rigs' own figure: what fresh rigs report, nameplate for the rest."""
        book = self.book
        fresh = book.fresh(now, self.config.max_reading_age_s)
        mid = np.where(book.model >= 0, book.model, 0)
        plate = np.where(book.model >= 0, self.catalog.nameplate_w[mid], self.catalog.unknown_w)
        w = np.where(fresh & ~np.isnan(book.watts), book.watts, plate)
        return float(w.sum())

    def counted_rigs_w(self, now: float) -> float:
        """The rigs as the meter loop counts them: a rig booting or ramping (woken or
        raised within its boot time plus the rigs' response) at what it reports, any
        other fresh rig at the higher of its target and what it reports, the rest at
        nameplate."""
        book = self.book
        fresh = book.fresh(now, self.config.max_reading_age_s)
        mid = np.where(book.model >= 0, book.model, 0)
        plate = np.where(book.model >= 0, self.catalog.nameplate_w[mid], self.catalog.unknown_w)
        moving = (book.state == RigState.BOOTING) | (
            now - book.raised_at < self.boot_s + self.response_s)
        target = np.where((book.intent == 0) | moving, np.nan, book.profile_w)
        w = np.where(fresh, np.fmax(target, book.watts), plate)
        return float(np.nansum(np.where(np.isnan(w), plate, w)))

    def site_w(self, now: float) -> tuple[float, str]:
        """Measured site draw when the meter is fresh, else the estimate."""
        if self.meter is not None:
            w = self.meter.current_w(now)
            if w is not None:
                return w, "meter"
        return self.estimate_site_w(now, self.rigs_w(now)), "estimate"

    def observed_factor(self, now: float, rig_w: float) -> float | None:
        """What the meter says the factor is now, for `rig_w` of the rigs' own figures
        (None without a fresh meter reading)."""
        if self.meter is None or rig_w <= 0:
            return None
        measured = self.meter.current_w(now)
        if measured is None:
            return None
        c = self.config
        rigs_measured = measured - self.firm_w(now) - c.overhead.aux_kw * 1e3
        observed = rigs_measured / (c.overhead.pue * rig_w)
        lo, hi = self.tuning.meter_factor_bounds
        return min(max(observed, lo), hi) if math.isfinite(observed) else None

    def learn_meter(self, now: float, rig_w: float, settled: bool) -> None:
        """Close the loop, only while settled (see the module's docstring): move the factor
        a step (`meter_learn_rate`) towards what the meter says of `rig_w`, the rigs as
        counted (counted_rigs_w). Up and down alike, so noise does not ratchet it up."""
        if not settled:
            return
        observed = self.observed_factor(now, rig_w)
        if observed is None:
            return
        old = self.learned_factor if self.learned_factor is not None else self.config.meter_factor
        self.learned_factor = old + self.tuning.meter_learn_rate * (observed - old)

    def learn_up(self, now: float, rig_w: float) -> bool:
        """The meter reads above the allotment: believe it at once if it says the rigs draw
        more than their figures (True when the factor rose)."""
        observed = self.observed_factor(now, rig_w)
        if observed is None or observed <= self.meter_factor():
            return False
        self.learned_factor = observed
        return True

    def unread_w(self, now: float, read: np.ndarray) -> np.ndarray | None:
        """Start-up: what each rig not read yet draws, from the site meter (NaN for the rigs
        read): the meter's share for the rigs, less what the rigs read say they draw, spread
        over the unread rigs by nameplate and never above it. None without a fresh meter."""
        if self.meter is None:
            return None
        measured = self.meter.current_w(now)
        if measured is None:
            return None
        c = self.config
        rigs_w = (measured - self.firm_w(now) - c.overhead.aux_kw * 1e3) / (
            c.overhead.pue * self.meter_factor())
        book = self.book
        fresh = book.fresh(now, c.max_reading_age_s)
        known = float(np.nansum(np.where(fresh, book.watts, 0.0)))
        mid = np.where(book.model >= 0, book.model, 0)
        plate = np.where(book.model >= 0, self.catalog.nameplate_w[mid], self.catalog.unknown_w)
        unread = ~read
        plate_unread = float(plate[unread].sum())
        if plate_unread <= 0:
            return None
        left = min(max(rigs_w - known, 0.0), plate_unread)
        return np.where(unread, plate * (left / plate_unread), np.nan)
