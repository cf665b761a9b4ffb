"""Prometheus metrics of an emulated fleet: the truth a real site would read off its meters.

Per site: the rigs' true draw, what the utility meter reads (true draw x PUE, the demo's
site meter that fleetd closes its loop on), what the rigs' APIs report, the hashrate,
and rigs by physical state. All read from the fleet's arrays when Prometheus scrapes
(one bincount per figure, cheap for 100,000 rigs), on the event loop the fleet runs on.

    metrics = RigsimMetrics(fleet)
    endpoint = await metrics.serve("127.0.0.1", 9103)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from rigsim.fleet import Fleet
from rigsim.physics import RigState

log = logging.getLogger(__name__)

STATES = tuple(s.name.lower() for s in RigState)
THS = 1e12  # H/s per TH/s


class FleetCollector:
    """Per-site figures of one Fleet, read at scrape time."""

    def __init__(self, fleet: Fleet, *, advance: bool = False) -> None:
        self.fleet = fleet
        self.advance = advance  # bring the physics to now first (no FleetRunner ticking)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        fleet = self.fleet
        if self.advance:
            fleet.advance()
        sites = fleet.site_names
        true_w = fleet.site_true_w()
        meter_w = fleet.site_meter_w()
        reported_w = fleet.site_reported_w()
        ths = fleet.site_hashrate_ths()

        def per_site(name: str, doc: str, values: dict[str, float], scale: float = 1.0) -> Metric:
            g = GaugeMetricFamily(name, doc, labels=["site"])
            for s in sites:
                g.add_metric([s], values[s] * scale)
            return g

        yield per_site("surplus_rigsim_site_power_watts",
                       "True draw of the site's rigs (no overhead)", true_w)
        yield per_site("surplus_rigsim_site_meter_watts",
                       "The site's utility meter: true draw x PUE", meter_w)
        yield per_site("surplus_rigsim_site_reported_power_watts",
                       "Sum of the power the rigs' APIs report", reported_w)
        yield per_site("surplus_rigsim_site_hashrate_hashes_per_second",
                       "Simulated hashrate of the site's rigs", ths, THS)

        state = fleet.physics.state.astype(np.int64)
        n_states = len(RigState)
        counts = np.bincount(fleet.site_idx.astype(np.int64) * n_states + state,
                             minlength=len(sites) * n_states).reshape(len(sites), n_states)
        rigs = GaugeMetricFamily("surplus_rigsim_site_rigs", "Rigs by physical state",
                                 labels=["site", "state"])  # fmt: skip
        for k, s in enumerate(sites):
            for st in RigState:
                rigs.add_metric([s, st.name.lower()], int(counts[k, st]))
        yield rigs

        faulty = np.zeros(len(sites), dtype=np.int64)
        for i in fleet.faulty:
            faulty[int(fleet.site_idx[i])] += 1
        g = GaugeMetricFamily("surplus_rigsim_site_faulty_rigs", "Rigs with an injected fault",
                              labels=["site"])  # fmt: skip
        for k, s in enumerate(sites):
            g.add_metric([s], int(faulty[k]))
        yield g


class RigsimMetrics:
    """A registry for one fleet, served on its own port."""

    def __init__(
        self, fleet: Fleet, *, registry: CollectorRegistry | None = None, advance: bool = False
    ) -> None:
        self.fleet = fleet
        self.registry = registry or CollectorRegistry()
        self.registry.register(FleetCollector(fleet, advance=advance))
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, host: str = "127.0.0.1", port: int = 9103) -> tuple[str, int]:
        """GET /metrics on the running event loop; returns the bound (host, port)."""
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port).start()
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info("rigsim metrics on http://%s:%d/metrics", *self.address)
        return self.address

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
