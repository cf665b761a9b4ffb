"""The one HTTP endpoint every daemon serves its Prometheus registry on.

    endpoint = MetricsEndpoint(registry, routes=[("/sites", handler)])  # extra GET routes
    host, port = await endpoint.start("127.0.0.1", 9101)               # GET /metrics
    ...
    await endpoint.close()

It runs on the daemon's event loop, so a scrape reads one consistent moment of the
daemon's objects. When the port cannot be bound the runner is released before the
OSError reaches the caller (who names the config key to change), so a failed start
leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from plumbing.lifecycle import closed

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_url(address: tuple[str, int], path: str = "") -> str:
    """http://host:port/path, with an IPv6 host in brackets."""
    host, port = address
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


class MetricsEndpoint:
    """An aiohttp server with GET /metrics for one registry (text or OpenMetrics, as the
    scraper asks), and any extra GET routes the daemon serves beside it."""

    def __init__(
        self,
        registry: CollectorRegistry,
        routes: Iterable[tuple[str, Handler]] = (),
        *,
        name: str = "metrics",
    ) -> None:
        self.registry = registry
        self.routes = list(routes)
        self.name = name  # for the log line: "pool metrics", "fleetd metrics", ...
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Serve on (host, port); the bound address (port 0 picks a free one)."""
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))
        for path, handler in self.routes:
            app.router.add_get(path, handler)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        try:
            await web.TCPSite(self.runner, host, port).start()
        except OSError:  # the port is taken: release the runner, report the bind
            await self.close()
            raise
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info("%s on %s", self.name, self.url)
        return self.address

    @property
    def url(self) -> str | None:
        """http://host:port/metrics while served, else None."""
        return None if self.address is None else http_url(self.address, "/metrics")

    async def close(self) -> None:
        self.runner = await closed(self.runner, web.AppRunner.cleanup)
        self.address = None
