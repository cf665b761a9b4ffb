"""fleetd as one process: every site's controller, their allotment feeds and meters, the
HTTP API and Prometheus /metrics (`[metrics] listen`), under one asyncio.TaskGroup (a
crash in any of them stops them all, loudly).

    fd = Fleetd.from_file("configs/fleetd-demo.toml")
    async with fd:                      # starts everything in the background
        fd.controllers["north"].stats   # what metrics read
    # or: await fd.run()                # until cancelled (the command line)

`driver_factory` replaces the pyasic driver (in-process rigs for benchmarks); `tuning`
compresses the controller's timings (per site name, or one for all); `api_port` and
`metrics_port` replace the configured ports (0: a free one, for tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fleetd import config as fleetd_config
from fleetd.allotment.openadr import OpenAdrSource
from fleetd.api import FleetdApi
from fleetd.audit import AuditLog
from fleetd.build import DriverFactory, build_site
from fleetd.config import FleetdConfig
from fleetd.control.controller import SiteController
from fleetd.control.samples import SampleLog, samples_path_for
from fleetd.control.site import ControlTuning, Site
from fleetd.metrics import FleetdMetrics
from plumbing.lifecycle import Service, cancel

log = logging.getLogger(__name__)


class Fleetd(Service):
    def __init__(
        self,
        config: FleetdConfig,
        *,
        driver_factory: DriverFactory | None = None,
        tuning: ControlTuning | Mapping[str, ControlTuning] | None = None,
        serve_api: bool = True,
        api_port: int | None = None,
        metrics_port: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        a = config.audit
        self.audit = AuditLog(a.path, fsync_every=a.fsync_every,
                              fsync_interval_s=a.fsync_interval_s, clock=clock)  # fmt: skip
        self.samples = SampleLog(samples_path_for(a.path))
        start = clock()
        self.sites: dict[str, Site] = {}
        self.controllers: dict[str, SiteController] = {}
        for name, sc in config.sites.items():
            t = tuning.get(name) if isinstance(tuning, Mapping) else tuning
            site = build_site(
                name, sc, config.rigs(name), driver_factory=driver_factory,
                drivers=config.drivers, tuning=t, clock=clock, start_at=start,
            )  # fmt: skip
            self.sites[name] = site
            for feed in site.allotment.feeds():  # their log lines name the site
                if hasattr(feed, "log"):
                    feed.log.site = name
            self.controllers[name] = SiteController(
                site, audit=self.audit, samples=self.samples,
                concurrency=config.drivers.concurrency,
                read_deadline_s=config.drivers.read_deadline_s, clock=clock,
            )  # fmt: skip
            for source in site.allotment.sources:  # an OpenADR VEN reports the site's draw
                if isinstance(source, OpenAdrSource):
                    stats = self.controllers[name].stats
                    source.metered_w = lambda stats=stats: stats.site_w
        self.api: FleetdApi | None = None
        if serve_api:
            api = config.api
            self.api = FleetdApi(
                self.controllers, host=api.host,
                port=api.port if api_port is None else api_port, tokens=api.bearer_tokens(),
                audit_path=config.audit.path,
            )  # fmt: skip
        # every site exported from the start, so each cycle is timed from the first
        self.metrics: FleetdMetrics | None = None
        self._metrics_at: tuple[str, int] | None = None
        m = config.metrics
        if m.enabled:
            self._metrics_at = (m.host, m.port if metrics_port is None else metrics_port)
            self.metrics = FleetdMetrics(clock=clock)
            for controller in self.controllers.values():
                self.metrics.add_site(controller)
        self._task: asyncio.Task[None] | None = None
        self.started = asyncio.Event()

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> Fleetd:
        return cls(fleetd_config.load(path), **kw)

    async def run(self) -> None:
        """Run every part until cancelled; closes the audit log and samples on the way out."""
        try:
            async with asyncio.TaskGroup() as tg:
                log.info("fleetd: %d site(s): %s", len(self.sites), ", ".join(
                    f"{name!r} ({len(site.specs)} rigs, allotment from "
                    f"{', '.join(repr(s.name) for s in site.allotment.sources)})"
                    for name, site in self.sites.items()))  # fmt: skip
                if self.api is not None:
                    await self.api.start()
                    log.info("fleetd API on %s", self.api.url)
                if self.metrics is not None and self._metrics_at is not None:
                    await self.metrics.serve(*self._metrics_at)
                for name, site in self.sites.items():
                    for feed in site.feeds():
                        tg.create_task(feed.run(), name=f"fleetd:{name}:{feed.name}")
                    tg.create_task(self.controllers[name].run(), name=f"fleetd:{name}")
                self.started.set()
        finally:
            if self.metrics is not None:
                await self.metrics.close()
            if self.api is not None:
                await self.api.stop()
            self.audit.close()
            self.samples.close()

    @property
    def metrics_url(self) -> str | None:
        """http://host:port/metrics while fleetd serves it, else None."""
        return None if self.metrics is None else self.metrics.endpoint.url

    async def start(self, first_cycle_timeout_s: float = 60.0) -> None:
        """Run in the background; returns once every site has finished its first cycle."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="fleetd")
        waits = [c.first_cycle_done.wait() for c in self.controllers.values()]
        done = asyncio.ensure_future(asyncio.gather(*waits))
        either: set[asyncio.Future[Any]] = {done, self._task}
        await asyncio.wait(either, timeout=first_cycle_timeout_s,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if self._task.done():
            done.cancel()
            self._task.result()  # raises what stopped it
        if not done.done():
            done.cancel()
            await self.stop()
            raise TimeoutError(f"fleetd: no first control cycle within {first_cycle_timeout_s} s")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

