"""Prometheus metrics of fleetd: each site's power against its allotment, and its rigs.

The controller keeps its figures as plain attributes (`SiteStats`) and can describe each
rig (`rigs()`), so a custom collector reads them when Prometheus scrapes: no second copy
of any figure, and a scrape is one moment of the site (the endpoint runs on the daemon's
event loop). Only the plan step's duration is a Histogram, fed by the controller's
`on_cycle` hook once per step (fleetd.control.controller: the step plans from the book
as it stands and hands the orders to the dispatcher, in milliseconds; the reads and the
sends run beside it and are timed as the phases of `surplus_fleetd_cycle_phase_seconds`).

    metrics = FleetdMetrics()
    for controller in controllers:
        metrics.add_site(controller)
    endpoint = await metrics.serve("127.0.0.1", 9102)

Per-rig series carry `site` and `rig` labels; they exist only for rigs listed in the
config, and a site with more than `max_rigs_per_site` rigs exports its totals only.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from fleetd.allotment.base import SOURCE_STATES
from plumbing.endpoint import MetricsEndpoint
from plumbing.signing import REFUSALS

log = logging.getLogger(__name__)

W_PER_MW = 1e6
HS_PER_THS = 1e12
SITE_STATES = ("hashing", "sleeping", "booting", "unreachable", "derated")
COMMAND_KINDS = ("sleep", "wake", "profile", "watts")
COMMAND_RESULTS = ("ok", "failed")
# a rig's figures: (metric, field of SiteController.rigs(), scale, help)
RIG_FIGURES = (
    ("surplus_fleetd_rig_power_watts", "watts", 1.0, "Power the rig reported, as last read"),
    ("surplus_fleetd_rig_hashrate_hashes_per_second", "ths", HS_PER_THS,
     "Hashrate the rig reported, as last read"),
    ("surplus_fleetd_rig_temperature_celsius", "temp_c", 1.0,
     "The rig's hottest sensor, as last read"),
    ("surplus_fleetd_rig_profile_watts", "target_w", 1.0,
     "Watts of the profile or power limit the rig runs (as last read, or as fleetd last set "
     "it)"),
    ("surplus_fleetd_rig_thermal_cap_watts", "thermal_cap_w", 1.0,
     "fleetd's thermal cap for the rig"),
)  # fmt: skip
# a plan step: milliseconds for a site of hundreds of rigs, about a second for 600,000
CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StatsLike(Protocol):
    """The figures of fleetd.control.stats.SiteStats this module reads."""

    above_cap_s: float
    above_cap_j: float
    above_floor_s: float
    above_floor_j: float
    energy_j: float
    allotment_w: float
    allotment_stale: bool
    budget_w: float
    wake_budget_w: float
    firm_w: float
    site_w: float
    site_w_source: str
    estimated_site_w: float
    meter_factor: float
    planned_w: float
    planned_ths: float
    hashrate_ths: float
    rigs_total: int
    rigs_by_state: dict[str, int]
    rigs_credentials_refused: int
    emergency: bool
    infeasible: bool
    cycles: int
    replans_triggered: int
    last_cycle_s: float
    last_read_s: float
    last_plan_s: float
    last_send_s: float
    last_cycle_at: float
    commands: Counter[tuple[str, str]]
    drift_resleeps: int
    retries: int


class ControllerLike(Protocol):
    """What fleetd.control.SiteController offers the collector."""

    site: Any  # .allotment.status(now), .meter (optional), .specs
    on_cycle: Callable[[Any], None] | None  # called with each plan step's report

    @property
    def stats(self) -> StatsLike: ...

    @property
    def name(self) -> str: ...

    def rigs(self) -> list[dict[str, Any]]: ...


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _nameplate(site: Any) -> tuple[float, float]:
    """Nameplate watts and TH/s of a site's configured rigs (what "all awake" means)."""
    catalog, specs = getattr(site, "catalog", None), getattr(site, "specs", None)
    if catalog is None or specs is None:
        return (math.nan, math.nan)
    w = ths = 0.0
    for spec in specs:
        try:
            m = catalog.model(spec.model)
        except (KeyError, ValueError):
            continue
        w += m.nameplate_w
        ths += m.nameplate_ths
    return (w, ths)


class FleetdMetrics:
    """The daemon's registry: one collector over every site, plus cycle timing."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        per_rig: bool = True,
        max_rigs_per_site: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.per_rig = per_rig
        self.max_rigs_per_site = max_rigs_per_site
        self.clock = clock
        self.controllers: dict[str, ControllerLike] = {}
        self.nameplate: dict[str, tuple[float, float]] = {}  # site -> (W, TH/s) of its rigs
        self.cycle_seconds = Histogram(
            "surplus_fleetd_cycle_seconds",
            "One plan step: budget, plan and orders handed to the dispatcher (the reads and "
            "the sends run beside it)",
            ["site"], buckets=CYCLE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(FleetdCollector(self))
        self.endpoint = MetricsEndpoint(self.registry, name="fleetd metrics")

    def add_site(self, controller: ControllerLike, *, instrument: bool = True) -> None:
        """Export `controller`'s site. With `instrument`, each plan step's duration is
        observed through the controller's `on_cycle` hook."""
        name = controller.name
        if name in self.controllers:
            raise ValueError(f"site {name!r} is already exported")
        self.controllers[name] = controller
        self.nameplate[name] = _nameplate(controller.site)
        self.cycle_seconds.labels(name)
        if instrument:
            controller.on_cycle = lambda report: self.observe_cycle(name, report.duration_s)

    def observe_cycle(self, site: str, seconds: float) -> None:
        """One plan step of `site` took `seconds`."""
        self.cycle_seconds.labels(site).observe(seconds)

    # ------------------------------------------------------------------ serving

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, host: str = "127.0.0.1", port: int = 9102) -> tuple[str, int]:
        """GET /metrics on the running event loop; returns the bound (host, port)."""
        return await self.endpoint.start(host, port)

    async def close(self) -> None:
        await self.endpoint.close()


class _Families:
    """Metric families filled site by site, yielded once."""

    def __init__(self) -> None:
        self._all: dict[str, Metric] = {}

    def gauge(self, name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        m = self._all.get(name)
        if not isinstance(m, GaugeMetricFamily):
            m = self._all[name] = GaugeMetricFamily(name, doc, labels=labels)
        return m

    def counter(self, name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
        m = self._all.get(name)
        if not isinstance(m, CounterMetricFamily):
            m = self._all[name] = CounterMetricFamily(name, doc, labels=labels)
        return m

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._all.values())


class FleetdCollector:
    def __init__(self, metrics: FleetdMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        f = _Families()
        now = self.metrics.clock()
        for name, ctl in list(self.metrics.controllers.items()):
            try:
                self._site(f, name, ctl, now)
                if self.metrics.per_rig and ctl.stats.rigs_total <= self.metrics.max_rigs_per_site:
                    self._rigs(f, name, ctl)
            except Exception:  # one site's odd state must not blank the whole scrape
                log.exception("fleetd metrics: site %r could not be read", name)
        yield from f

    def _site(self, f: _Families, name: str, ctl: ControllerLike, now: float) -> None:
        st = ctl.stats
        site = [name]

        def g(metric: str, doc: str, value: float | None) -> None:
            if value is not None:
                f.gauge(metric, doc, ["site"]).add_metric(site, value)

        def c(metric: str, doc: str, value: float) -> None:
            f.counter(metric, doc, ["site"]).add_metric(site, value)

        g("surplus_fleetd_site_allotment_watts", "The allotment in force (lowest source)",
          st.allotment_w)
        g("surplus_fleetd_site_budget_watts", "What the planner may give the rigs",
          st.budget_w)
        g("surplus_fleetd_site_wake_budget_watts", "The budget that may include new wakes",
          st.wake_budget_w)
        g("surplus_fleetd_site_power_watts",
          "The site's draw as the controller steers by it: the meter when fresh, else the "
          "estimate", st.site_w)
        g("surplus_fleetd_site_estimated_power_watts",
          "The site's draw estimated from the rigs' figures (nameplate where stale), PUE, "
          "auxiliary and firm loads and the meter factor",
          st.estimated_site_w)
        meter = getattr(ctl.site, "meter", None)
        measured = meter.current_w(now) if meter is not None else None
        g("surplus_fleetd_site_measured_power_watts", "The site meter's fresh reading",
          _finite(measured))
        g("surplus_fleetd_site_power_metered",
          "1 when the site's power figure comes from a fresh meter reading",
          1.0 if st.site_w_source == "meter" else 0.0)
        g("surplus_fleetd_site_headroom_watts", "Allotment less the site's draw",
          st.allotment_w - st.site_w)
        g("surplus_fleetd_site_firm_load_watts", "Firm loads counted against the allotment",
          st.firm_w)
        g("surplus_fleetd_site_planned_power_watts", "The plan's total for the rigs",
          st.planned_w)
        g("surplus_fleetd_site_hashrate_hashes_per_second", "What fresh rigs report",
          st.hashrate_ths * HS_PER_THS)
        g("surplus_fleetd_site_planned_hashrate_hashes_per_second", "The plan's hashrate",
          st.planned_ths * HS_PER_THS)
        plate_w, plate_ths = self.metrics.nameplate.get(name, (math.nan, math.nan))
        g("surplus_fleetd_site_nameplate_power_watts", "Nameplate power of the site's rigs",
          _finite(plate_w))
        g("surplus_fleetd_site_nameplate_hashrate_hashes_per_second",
          "Nameplate hashrate of the site's rigs (all awake at stock settings)",
          None if _finite(plate_ths) is None else plate_ths * HS_PER_THS)
        g("surplus_fleetd_site_meter_factor",
          "The factor the budget uses: the site meter over what the rigs' figures predict, "
          "learnt while settled, never below the configured one",
          st.meter_factor)
        g("surplus_fleetd_site_allotment_stale",
          "1 when the binding allotment is a silent feed's floor",
          1.0 if st.allotment_stale else 0.0)
        g("surplus_fleetd_site_emergency", "1 while the emergency stop holds",
          1.0 if st.emergency else 0.0)
        g("surplus_fleetd_site_infeasible",
          "1 when the last plan exceeds the budget even with every rig asleep",
          1.0 if st.infeasible else 0.0)
        g("surplus_fleetd_site_rigs_configured", "Rigs in the site's config", st.rigs_total)
        if st.last_cycle_at:
            g("surplus_fleetd_site_last_cycle_timestamp_seconds", "When the last plan step ran",
              st.last_cycle_at)
        c("surplus_fleetd_site_above_cap_seconds",
          "Time the site drew above the allotment in force (the meter's readings while "
          "fresh, else fleetd's estimate)", st.above_cap_s)
        c("surplus_fleetd_site_above_cap_joules", "Energy drawn above the allotment in force",
          st.above_cap_j)
        c("surplus_fleetd_site_above_floor_seconds",
          "Time the site drew above fleetd's fallback floor while a stale feed's floor bound "
          "(not a breach when the allotment in force was higher)", st.above_floor_s)
        c("surplus_fleetd_site_above_floor_joules",
          "Energy drawn above fleetd's stale-feed floor while it bound", st.above_floor_j)
        c("surplus_fleetd_site_energy_joules", "Energy the site drew", st.energy_j)
        c("surplus_fleetd_cycles", "Plan steps run (each period, and each re-plan)", st.cycles)
        c("surplus_fleetd_replans",
          "Re-plans asked for between periods (a budget drop, a slow shed, a rig up by "
          "itself, the meter above the allotment, an operator)", st.replans_triggered)
        c("surplus_fleetd_drift_resleeps",
          "Re-sleeps answered for rigs that woke by themselves after fleetd slept them",
          st.drift_resleeps)
        c("surplus_fleetd_command_retries",
          "Commands answered that were sent again after no effect within the grace period",
          st.retries)

        rigs = f.gauge("surplus_fleetd_site_rigs",
                       "Rigs by state as last read (a stale reading counts as unreachable)",
                       ["site", "state"])  # fmt: skip
        by_state = dict(st.rigs_by_state)
        for rig_state in (*SITE_STATES, *sorted(set(by_state) - set(SITE_STATES))):
            rigs.add_metric([name, rig_state], by_state.get(rig_state, 0))

        g("surplus_fleetd_rigs_credentials_refused",
          "Rigs that refuse the configured credentials of their firmware family (counted "
          "at nameplate until a command with them succeeds)", st.rigs_credentials_refused)

        phases = f.gauge("surplus_fleetd_cycle_phase_seconds",
                         "The last of each: read, a round reading every rig; plan, budget to "
                         "plan in a plan step; send, a fan-out from first command to last "
                         "answer; total, the whole plan step (reads and sends run beside it)",
                         ["site", "phase"])  # fmt: skip
        for phase, v in (("read", st.last_read_s), ("plan", st.last_plan_s),
                         ("send", st.last_send_s), ("total", st.last_cycle_s)):  # fmt: skip
            phases.add_metric([name, phase], v)

        commands = f.counter("surplus_fleetd_commands",
                             "Commands answered, by kind and result (failed: refused or no "
                             "answer in time)",
                             ["site", "kind", "result"])  # fmt: skip
        counts = dict(st.commands)
        kinds = sorted({k for k, _ in counts} | set(COMMAND_KINDS))
        for kind in kinds:
            for result in COMMAND_RESULTS:
                commands.add_metric([name, kind, result], counts.get((kind, result), 0))

        allotment = getattr(ctl.site, "allotment", None)
        if allotment is not None:
            labels = ["site", "source", "kind"]
            age = f.gauge("surplus_fleetd_allotment_source_age_seconds",
                          "Age of each allotment source's figure", labels)
            stale = f.gauge("surplus_fleetd_allotment_source_stale",
                            "1 when a live feed went quiet and its floor applies", labels)
            watts = f.gauge("surplus_fleetd_allotment_source_watts",
                            "Each allotment source's figure", labels)
            errors = f.counter("surplus_fleetd_allotment_source_errors",
                               "Errors reading each allotment source", labels)
            state = f.gauge("surplus_fleetd_allotment_source_state",
                            "1 for each source's state: ok, failing (a fresh figure held, the "
                            "latest attempts failed) or stale (its floor applies)",
                            [*labels, "state"])  # fmt: skip
            failing = f.gauge("surplus_fleetd_allotment_source_failing_seconds",
                              "How long each source has been in trouble (0 when ok)", labels)
            refused = f.counter("surplus_fleetd_allotment_feed_refused",
                                "Messages a signed feed refused, by reason (unsigned, forged, "
                                "stale, replayed, ...)", [*labels, "reason"])  # fmt: skip
            for src in getattr(allotment, "sources", ()):
                verifier = getattr(src, "verifier", None)
                if verifier is not None:
                    for reason in REFUSALS:
                        refused.add_metric([name, src.name, src.kind, reason],
                                           verifier.refused.get(reason, 0))  # fmt: skip
            for s in allotment.status(now):
                key = [name, s.source, s.kind]
                stale.add_metric(key, 1.0 if s.stale else 0.0)
                errors.add_metric(key, s.errors)
                for kind in SOURCE_STATES:
                    state.add_metric([*key, kind], 1.0 if s.state == kind else 0.0)
                failing.add_metric(key, _finite(s.failing_for_s(now)) or 0.0)
                a = _finite(s.age_s)
                if a is not None:
                    age.add_metric(key, a)
                mw = _finite(s.mw)
                if mw is not None:
                    watts.add_metric(key, mw * W_PER_MW)

    def _rigs(self, f: _Families, name: str, ctl: ControllerLike) -> None:
        labels = ["site", "rig"]
        figures = [(f.gauge(metric, doc, labels), field, scale)
                   for metric, field, scale, doc in RIG_FIGURES]  # fmt: skip
        fresh = f.gauge("surplus_fleetd_rig_reading_fresh", "1 when the last reading is fresh",
                        labels)  # fmt: skip
        state = f.gauge("surplus_fleetd_rig_state", "1 for the rig's state as last read",
                        ["site", "rig", "state"])  # fmt: skip
        info = f.gauge("surplus_fleetd_rig_info", "The rig's model, firmware and address",
                       ["site", "rig", "model", "firmware", "host"])  # fmt: skip
        for r in ctl.rigs():
            rig = str(r.get("name") or r["host"])
            key = [name, rig]
            for fam, field, scale in figures:
                v = _finite(r.get(field))
                if v is not None:  # no reading, no cap: no sample (never NaN)
                    fam.add_metric(key, v * scale)
            fresh.add_metric(key, 1.0 if r.get("fresh") else 0.0)
            now_state = str(r.get("state", "unreachable"))
            for s in (*SITE_STATES, *(() if now_state in SITE_STATES else (now_state,))):
                state.add_metric([name, rig, s], 1.0 if s == now_state else 0.0)
            info.add_metric([name, rig, str(r.get("model", "")), str(r.get("firmware", "")),
                             str(r.get("host", ""))], 1.0)
