"""Prometheus metrics and JSON meters of an emulated fleet: the truth a real site would
read off its meters.

Per site: the rigs' true draw, what the utility meter reads (true draw x PUE + auxiliary
and firm loads: the site meter fleetd closes its loop on), each firm load, what the rigs'
APIs report, the hashrate, and rigs by physical state. All read from the fleet's arrays
when asked (one bincount per figure, cheap for 100,000 rigs), on the fleet's event loop.

The same figures are served as JSON, the way a site's meter gateway serves them, so
fleetd's `http_json` meters can read them:

    GET /sites                          every site's figures
    GET /sites/{site}/meter             {"kw": ...}  the site meter
    GET /sites/{site}/firm/{load}       {"kw": ...}  one firm load's sub-meter

    metrics = RigsimMetrics(fleet)
    await metrics.serve("127.0.0.1", 9103)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from plumbing.endpoint import MetricsEndpoint
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

        yield per_site(
            "surplus_rigsim_site_power_watts", "True draw of the site's rigs (no overhead)", true_w
        )
        yield per_site(
            "surplus_rigsim_site_meter_watts",
            "The site's utility meter: true draw x PUE + aux + firm loads",
            meter_w,
        )
        firm = GaugeMetricFamily("surplus_rigsim_firm_load_watts",
                                 "Draw of each firm (never throttled) load on the site meter",
                                 labels=["site", "load"])  # fmt: skip
        for s, loads in fleet.site_firm_w().items():
            for name, w in loads.items():
                firm.add_metric([s, name], w)
        yield firm
        yield per_site(
            "surplus_rigsim_site_reported_power_watts",
            "Sum of the power the rigs' APIs report",
            reported_w,
        )
        yield per_site(
            "surplus_rigsim_site_hashrate_hashes_per_second",
            "Simulated hashrate of the site's rigs",
            ths,
            THS,
        )

        state = fleet.physics.state.astype(np.int64)
        n_states = len(RigState)
        counts = np.bincount(
            fleet.site_idx.astype(np.int64) * n_states + state, minlength=len(sites) * n_states
        ).reshape(len(sites), n_states)
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
        self.advance = advance
        self.registry = registry or CollectorRegistry()
        self.registry.register(FleetCollector(fleet, advance=advance))
        self.endpoint = MetricsEndpoint(self.registry, [
            ("/sites", self._sites),
            ("/sites/{site}/meter", self._meter),
            ("/sites/{site}/firm/{load}", self._firm),
        ], name="rigsim metrics")  # fmt: skip

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def sites(self) -> dict[str, Any]:
        """Every site's figures now (what GET /sites answers)."""
        fleet = self.fleet
        true_w, meter_w = fleet.site_true_w(), fleet.site_meter_w()
        reported_w, ths, firm = (
            fleet.site_reported_w(),
            fleet.site_hashrate_ths(),
            fleet.site_firm_w(),
        )
        counts: dict[str, dict[str, int]] = {s: dict.fromkeys(STATES, 0) for s in fleet.site_names}
        state = fleet.physics.state
        for k, s in enumerate(fleet.site_names):
            per = np.bincount(state[fleet.site_idx == k].astype(np.int64), minlength=len(RigState))
            counts[s] = {st.name.lower(): int(per[st]) for st in RigState}
        out = {}
        for s in fleet.site_names:
            cfg = fleet.config.sites[s]
            out[s] = {
                "meter_kw": meter_w[s] / 1e3, "rigs_true_kw": true_w[s] / 1e3,
                "rigs_reported_kw": reported_w[s] / 1e3, "pue": cfg.pue,
                "aux_kw": cfg.aux_kw, "firm_kw": {n: w / 1e3 for n, w in firm[s].items()},
                "hashrate_ths": ths[s], "rigs": counts[s],
            }  # fmt: skip
        return {"time": time.time(), "sites": out}

    async def _sites(self, request: web.Request) -> web.Response:
        if self.advance:
            self.fleet.advance()
        return web.json_response(self.sites())

    def _site_or_404(self, request: web.Request) -> str:
        site = request.match_info["site"]
        if site not in self.fleet.config.sites:
            raise web.HTTPNotFound(
                text=f"no site {site!r}; sites: {', '.join(self.fleet.site_names)}"
            )
        return site

    async def _meter(self, request: web.Request) -> web.Response:
        site = self._site_or_404(request)
        if self.advance:
            self.fleet.advance()
        kw = self.fleet.site_meter_w()[site] / 1e3
        return web.json_response({"site": site, "kw": kw, "time": time.time()})

    async def _firm(self, request: web.Request) -> web.Response:
        site = self._site_or_404(request)
        loads = self.fleet.site_firm_w()[site]
        name = request.match_info["load"]
        if name not in loads:
            raise web.HTTPNotFound(text=f"site {site!r} has no firm load {name!r}")
        return web.json_response({"site": site, "load": name, "kw": loads[name] / 1e3,
                                  "time": time.time()})  # fmt: skip

    async def serve(self, host: str = "127.0.0.1", port: int = 9103) -> tuple[str, int]:
        """GET /metrics and the site meters on the running event loop; the bound address."""
        return await self.endpoint.start(host, port)

    async def close(self) -> None:
        await self.endpoint.close()
