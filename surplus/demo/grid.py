"""The grid operator's live allotment feed for one site, with cuts it does not announce.

`GridFeed.mw_at(t)` is pure: the nominal figure, except during a cut (every `every_s`
from `first_cut_s` after the start, `cut_s` long, `depth` below nominal). The feed
answers fleetd's `http_json` allotment source in its documented message shape
({"mw", "as_of", "id"}, no "next": the cut is not announced in advance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class GridFeed:
    site: str
    nominal_mw: float
    start: float  # epoch seconds
    first_cut_s: float = 35.0
    cut_s: float = 60.0
    every_s: float = 300.0
    depth: float = 0.15  # a cut takes this share off the nominal figure

    def cut_index(self, t: float) -> int | None:
        """Which cut is in force at `t` (0, 1, ...), or None."""
        since = t - self.start - self.first_cut_s
        if since < 0:
            return None
        k, into = divmod(since, self.every_s)
        return int(k) if into < self.cut_s else None

    def cut_started(self, t: float) -> float | None:
        """When the cut in force at `t` began (epoch seconds), or None."""
        k = self.cut_index(t)
        return None if k is None else self.start + self.first_cut_s + k * self.every_s

    def mw_at(self, t: float) -> float:
        return self.nominal_mw * (1.0 - self.depth) if self.cut_index(t) is not None \
            else self.nominal_mw  # fmt: skip

    def message(self, t: float) -> dict[str, object]:
        k = self.cut_index(t)
        return {"mw": self.mw_at(t), "as_of": t,
                "id": f"grid-{self.site}-{'normal' if k is None else f'cut-{k}'}"}  # fmt: skip


class GridServer:
    """Serves each feed at GET /allotment/{site} on loopback."""

    def __init__(self, feeds: dict[str, GridFeed]) -> None:
        self.feeds = feeds
        self._runner: web.AppRunner | None = None

    async def _allotment(self, request: web.Request) -> web.Response:
        feed = self.feeds.get(request.match_info["site"])
        if feed is None:
            raise web.HTTPNotFound(text=f"no feed for site {request.match_info['site']!r}")
        return web.json_response(feed.message(time.time()))

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_get("/allotment/{site}", self._allotment)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
