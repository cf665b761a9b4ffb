"""The coordinator's Prometheus /metrics (loopback; `[metrics]`): the portfolio, what each
site is allotted and draws, what the split could not place, the feeds served."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from coordinator.config import MetricsTable
from coordinator.core import Coordinator
from plumbing.endpoint import MetricsEndpoint

W_PER_MW = 1e6


class _Collector:
    def __init__(self, core: Coordinator, clock: Callable[[], float]) -> None:
        self.core = core
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        core, st = self.core, self.core.state
        yield GaugeMetricFamily(
            "surplus_control_portfolio_watts",
            "The portfolio allotment in force",
            value=st.portfolio_mw * W_PER_MW,
        )
        yield GaugeMetricFamily(
            "surplus_control_emergency",
            "1 while the operator's emergency stop holds",
            value=1.0 if st.stop is not None else 0.0,
        )
        sp = core.last_split
        yield GaugeMetricFamily(
            "surplus_control_shortfall_watts",
            "How far the sites' reachable floor is above the portfolio",
            value=0.0 if sp is None else sp.shortfall_mw * W_PER_MW,
        )
        allot = GaugeMetricFamily(
            "surplus_control_site_allotment_watts", "What each site is sent", labels=["site"]
        )
        draw = GaugeMetricFamily(
            "surplus_control_site_draw_watts",
            "Each site's metered draw, as its fleetd reported",
            labels=["site"],
        )
        jth = GaugeMetricFamily(
            "surplus_control_site_joules_per_terahash",
            "Each site's J/TH at the meter: over the hashrate the pool credits (source=pool) "
            "or the rigs report (source=rigs)",
            labels=["site", "source"],
        )
        age = GaugeMetricFamily(
            "surplus_control_site_report_age_seconds",
            "Age of each site's last report",
            labels=["site"],
        )
        feeds = CounterMetricFamily(
            "surplus_control_feed_messages",
            "Signed messages served to each site's feed",
            labels=["site"],
        )
        flagged = GaugeMetricFamily(
            "surplus_control_site_flagged_rigs",
            "Rigs drawing power but credited far less than they claim at the licensed pool "
            "(coordinator.verify; sites checked against the pool only)",
            labels=["site"],
        )
        now = self.clock()
        for n, v in core.sites.items():
            if v.verify is not None:
                flagged.add_metric([n], float(len(v.verify.flagged())))
            mw = st.allotments.get(n)
            if mw is not None:
                allot.add_metric([n], mw * W_PER_MW)
            if v.report is not None:
                draw.add_metric([n], v.report.draw_mw * W_PER_MW)
                if v.report.jth is not None:
                    jth.add_metric([n, "rigs"], v.report.jth)
                verified, source = core.jth(v, now)
                if verified is not None and source == "pool":
                    jth.add_metric([n, "pool"], verified)
            if v.report_at is not None:
                age.add_metric([n], max(0.0, now - v.report_at))
            feeds.add_metric([n], core.feeds_served.get(n, 0))
        yield from (allot, draw, jth, age, feeds, flagged)


class CoordinatorMetrics:
    def __init__(self, core: Coordinator, clock: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(core, clock))
        self.endpoint = MetricsEndpoint(self.registry, name="control metrics")
        self.address: tuple[str, int] | None = None

    async def start(self, table: MetricsTable) -> None:
        if table.enabled:
            self.address = await self.endpoint.start(table.host, table.port)

    async def stop(self) -> None:
        await self.endpoint.close()
