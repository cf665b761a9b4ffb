"""The stats API of a pool cluster: `[stats_api]` served by the supervisor, answering for
every worker process at once.

Each worker serves its own stats API on a loopback port of its own (pool.app_slot); the
supervisor serves the configured address, asks every worker the same question (the
same path and query, in parallel) and merges their answers (pool.cluster.merge): sums
of what is counted per process, one row per worker, the ledger's answers from any one.
A worker that is down (restarting) is left out of the answer; none answering is a 503.
A bad query parameter is answered 400 by the workers, and passed on. The miners' page
itself (pool.web_page) is served from here, so it reads the merged answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp import web

from plumbing.lifecycle import closed
from pool.cluster import merge
from pool.online_sketch import SketchError, union
from pool.stats_api import (
    Answered,
    BadRequest,
    add_core_routes,
    error_middleware,
    parse_limit,
    parse_name,
    parse_offset,
)
from pool.stats_schema import API_PREFIX, DEFAULT_PAGE, MAX_LIMIT, MINER_PAGE
from pool.web_page import WebPage

if TYPE_CHECKING:
    from pool.config import StatsApiSection

log = logging.getLogger(__name__)

ASK_TIMEOUT = 10.0
Reply = tuple[int, Any]  # (HTTP status, decoded JSON)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")  # fmt: skip


class ClusterStats:
    def __init__(self, config: StatsApiSection, workers: Callable[[], list[str]]) -> None:
        """`workers`: the base URLs of the workers' stats APIs that are up now."""
        self.config = config
        self.workers = workers
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ asking the workers

    async def _ask(self, base: str, path: str, params: dict[str, str]) -> Reply | None:
        assert self._http is not None
        try:
            async with self._http.get(base + path, params=params) as response:
                return response.status, orjson.loads(await response.read())
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            log.info("stats: a worker did not answer %s: %s", path, type(exc).__name__)
            return None

    async def ask(self, path: str, params: dict[str, str]) -> list[Reply]:
        replies = await asyncio.gather(*(self._ask(b, path, params) for b in self.workers()))
        answered = [r for r in replies if r is not None]
        if not answered:
            raise web.HTTPServiceUnavailable(reason="no pool process answers now; try again")
        for status, body in answered:  # a refused query: every worker says the same
            if status == 400:
                raise Answered(_json(body, 400))
        return answered

    async def ok(self, path: str, params: dict[str, str]) -> list[Any]:
        """The 200 answers; the first refusal (404, 503) when there is none."""
        replies = await self.ask(path, params)
        good = [body for status, body in replies if status == 200]
        if not good:
            status, body = replies[0]
            raise Answered(_json(body, status))
        return good

    async def rows(self, path: str, key: str, params: dict[str, str], need: int) -> list[list[Any]]:
        """Up to `need` rows of a paged answer from every worker (paged as they page)."""

        async def from_one(base: str) -> list[Any]:
            rows: list[Any] = []
            at: int | None = 0
            while at is not None and len(rows) < need:
                reply = await self._ask(base, path, {
                    **params, "offset": str(at), "limit": str(min(MAX_LIMIT, need - len(rows)))})
                if reply is None or reply[0] != 200:
                    if reply is not None and reply[0] == 400:
                        raise Answered(_json(reply[1], 400))
                    break
                rows += reply[1][key]
                at = reply[1].get("next_offset")
            return rows

        return list(await asyncio.gather(*(from_one(b) for b in self.workers())))

    # ------------------------------------------------------------------ the routes

    async def pool(self, request: web.Request) -> web.Response:
        return _json(merge.summary(await self.ok(f"{API_PREFIX}/pool", {})))

    async def worker_list(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit"))
        limit = DEFAULT_PAGE if limit is None else limit
        offset = parse_offset(request.query.get("offset"))
        account = parse_name(request.query.get("account"), "account")
        params = {} if account is None else {"account": account}
        pages = await self.rows(f"{API_PREFIX}/workers", "workers", params, offset + limit + 1)
        return _json(merge.worker_page(pages, offset, limit))

    async def worker(self, request: web.Request) -> web.Response:
        path = f"{API_PREFIX}/workers/{request.match_info['worker']}"
        rows = await self.ok(path, {})
        return _json(merge.by_worker(rows, merge.worker_row)[0])

    async def account(self, request: web.Request) -> web.Response:
        path = f"{API_PREFIX}/accounts/{request.match_info['account']}"
        return _json(merge.account(await self.ok(path, {})))

    async def blocks(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit"))
        return _json(merge.block_list(await self.ok(f"{API_PREFIX}/blocks", {}), limit))

    async def from_any(self, request: web.Request) -> web.Response:
        """What every worker reads from the ledger (or knows alike): one answer."""
        replies = await self.ask(request.path, dict(request.query))
        good = [(s, b) for s, b in replies if s == 200]
        status, body = (good or replies)[0]
        return _json(body, status)

    async def overview(self, request: web.Request) -> web.Response:
        answers, online = await asyncio.gather(
            self.ok(request.path, {}), self._online_or_none())
        if online is not None and len(online) != len(answers):
            online = None  # a process answered one and not the other: sum the counts
        return _json(merge.overview(answers, online))

    async def _online_or_none(self) -> list[Any] | None:
        try:
            return await self.ok(f"{API_PREFIX}/pool/online", {})
        except (Answered, web.HTTPException):
            return None

    async def online(self, request: web.Request) -> web.Response:
        """The union of the processes' sketches: one sketch for the whole cluster."""
        answers = await self.ok(request.path, {})
        try:
            accounts = union(a.get("accounts") for a in answers)
            workers = union(a.get("workers") for a in answers)
        except SketchError as exc:
            raise web.HTTPBadGateway(reason=f"a process's sketch: {exc}") from None
        return _json({"time": max(a["time"] for a in answers),
                      "accounts": accounts.encode(), "workers": workers.encode()})

    async def chart(self, request: web.Request) -> web.Response:
        return _json(merge.chart(await self.ok(request.path, dict(request.query))))

    def _miner_query(self, request: web.Request) -> dict[str, str]:
        account = parse_name(request.query.get("account"), "account")
        if account is None:
            raise BadRequest("account: required (an address, or the account name you mine as)")
        return {"account": account}

    async def miner(self, request: web.Request) -> web.Response:
        query = self._miner_query(request)
        answers = await self.ok(request.path, query)
        pages = await self.rows(f"{API_PREFIX}/miner/workers", "workers", query, MAX_LIMIT)
        rows = merge.by_worker((r for page in pages for r in page), merge.miner_worker_row)
        return _json(merge.miner(answers, rows))

    async def miner_workers(self, request: web.Request) -> web.Response:
        query = self._miner_query(request)
        limit = parse_limit(request.query.get("limit"))
        limit = MINER_PAGE if limit is None else limit
        offset = parse_offset(request.query.get("offset"))
        await self.ok(f"{API_PREFIX}/miner", query)  # an unknown account: its 404
        pages = await self.rows(request.path, "workers", query, offset + limit + 1)
        return _json(merge.miner_workers(pages, offset, limit))

    # ------------------------------------------------------------------ serving

    def app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware(self.config.cors_origin)])
        add_core_routes(
            app.router, pool=self.pool, workers=self.worker_list, worker=self.worker,
            account=self.account, blocks=self.blocks, openapi=self.from_any,
        )  # fmt: skip
        r = app.router
        r.add_get(f"{API_PREFIX}/pool/overview", self.overview)
        r.add_get(f"{API_PREFIX}/pool/online", self.online)
        r.add_get(f"{API_PREFIX}/pool/hashrate", self.chart)
        r.add_get(f"{API_PREFIX}/pool/blocks", self.from_any)
        r.add_get(f"{API_PREFIX}/miner", self.miner)
        r.add_get(f"{API_PREFIX}/miner/workers", self.miner_workers)
        r.add_get(f"{API_PREFIX}/miner/hashrate", self.chart)
        r.add_get(f"{API_PREFIX}/miner/payouts", self.from_any)
        r.add_get(f"{API_PREFIX}/miner/blocks", self.from_any)
        if self.config.page:
            WebPage().install(app)
        return app

    async def start(self) -> tuple[str, int]:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ASK_TIMEOUT))
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError:
            await self.close()
            raise
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    async def close(self) -> None:
        self.runner = await closed(self.runner, web.AppRunner.cleanup)
        self._http = await closed(self._http, aiohttp.ClientSession.close)
