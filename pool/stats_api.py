"""The pool's public stats API: HTTP JSON for dashboards and bots, described by OpenAPI.

    GET /api/v1/pool               pool summary: hashrate, workers, difficulty, last block
    GET /api/v1/workers            per-worker stats, highest hashrate first, a page at a
                                   time (?limit=N&offset=M), one account's (?account=A)
    GET /api/v1/workers/{worker}   one worker
    GET /api/v1/accounts/{account} one account: its workers and their summed hashrate
    GET /api/v1/blocks             blocks found, newest first (?limit=N)
    GET /openapi.json              this API as OpenAPI 3.1 (from pool.stats_schema's models)

    and, installed as extensions: the miners' page's endpoints (pool.stats_miner:
    /api/v1/pool/*, /api/v1/miner*) and the page itself at / (pool.web_page)

The same figures Prometheus gets, shaped the way public-pool and Miningcore users expect
to read them. `PoolView` builds every answer from the live server and the worker book
(pure reads, tested without a socket); `StatsApi` is the aiohttp shell that serves it on
the event loop, so an answer is one consistent moment of the pool. Nothing here walks
every worker or every connection: the book and the server keep the figures as they
change, a page rates only its own rows, and a worker or an account is found by name.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from pool.bitcoin.target import DIFF1_TARGET
from pool.metrics.collector import REJECT_REASONS
from pool.stats_schema import API_PREFIX, DEFAULT_PAGE, MAX_LIMIT, MAX_NAME, MAX_OFFSET, openapi
from pool.workers import WorkerBook, WorkerView, account_of

if TYPE_CHECKING:
    from pool.config import StatsApiSection
    from pool.stratum.server import StratumServer

log = logging.getLogger(__name__)

PAGE_CHUNK = 200  # worker rows built per turn of the event loop


class BadRequest(ValueError):
    """A query parameter the API cannot use (named in the message)."""


# ---------------------------------------------------------------------- pure views


class PoolView:
    """Answers built from the live server and the worker book."""

    def __init__(
        self,
        server: StratumServer,
        workers: WorkerBook,
        *,
        clock: Callable[[], float] = time.time,
        confirmed: Callable[[], int] | None = None,
    ) -> None:
        self.server = server
        self.workers = workers
        self.clock = clock
        # blocks on the active chain at their height (the app's getblockhash check);
        # `blocks_accepted` only says submitblock took them, which a stale block's can too
        self.confirmed = confirmed

    def _difficulty(self, worker: str) -> float | None:
        """The share difficulty of the latest connection the worker authorized on (None
        when it has closed and an older one is still open)."""
        session = self.server.worker_session.get(worker)
        if session is None or session.closed:
            return None
        return float(session.difficulty)

    def summary(self) -> dict[str, Any]:
        server, now = self.server, self.clock()
        stats = server.stats
        counts = dict(server.difficulties)
        job = server.jobs.current
        rejected = dict(stats.rejected)
        accepted_blocks = [b for b in server.blocks if b.result is None]
        last = accepted_blocks[-1] if accepted_blocks else None
        return {
            "time": now,
            "hashrate_hs": self.workers.total_hashrate(now),
            "hashrate_window_s": self.workers.window_s,
            "workers": self.workers.active(now),
            "authorized_workers": server.authorized_names,
            "connections": len(server.sessions),
            "shares": {
                "accepted": stats.accepted,
                "accepted_difficulty": stats.credited,
                "rejected": {reason: rejected.get(code, 0)
                             for code, reason in REJECT_REASONS.items()},
            },
            "difficulty": {
                "network": None if job is None else DIFF1_TARGET / job.network_target,
                "connections": _distribution(counts),
            },
            "height": None if job is None else job.height,
            "template_age_s": None if job is None else max(0.0, now - job.created),
            "blocks_found": stats.blocks_found,
            "blocks_accepted": stats.blocks_accepted,
            "blocks_confirmed": None if self.confirmed is None else self.confirmed(),
            "last_block": None if last is None else _block(last),
        }

    def _row(self, v: WorkerView) -> dict[str, Any]:
        difficulty = self._difficulty(v.worker)
        return {
            "worker": v.worker,
            "account": account_of(v.worker),
            "hashrate_hs": v.hashrate,
            "accepted_shares": v.accepted,
            "accepted_difficulty": v.difficulty_total,
            "last_share_difficulty": v.last_difficulty,
            "first_share_time": v.first_share,
            "last_share_time": v.last_share,
            "connected": v.worker in self.server.worker_connections,
            "difficulty": difficulty,
        }

    def _idle_row(self, name: str) -> dict[str, Any]:
        """A worker authorized on an open connection with no accepted share yet."""
        return {
            "worker": name, "account": account_of(name), "hashrate_hs": 0.0,
            "accepted_shares": 0, "accepted_difficulty": 0.0, "last_share_difficulty": None,
            "first_share_time": None, "last_share_time": None, "connected": True,
            "difficulty": self._difficulty(name),
        }  # fmt: skip

    def _idle(self, account: str | None = None) -> Iterator[str]:
        """Authorized names the book does not hold (no accepted share yet)."""
        book = self.workers
        for name in self.server.worker_connections:
            if name not in book and (account is None or account_of(name) == account):
                yield name

    def worker_page(
        self, limit: int = DEFAULT_PAGE, offset: int = 0, *, account: str | None = None,
    ) -> dict[str, Any]:
        """One page of workers, highest hashrate first, then those authorized without a
        share yet; with `account`, only that account's. `next_offset` is where the next
        page starts (null at the end). Only the page's rows are rated."""
        now = self.clock()
        if account is not None:
            rows = [self._row(v) for v in self.workers.account(account, now)]
            rows += [self._idle_row(n) for n in self._idle(account)]
            page = rows[offset:offset + limit]
            more = offset + limit < len(rows)
        else:
            page = [self._row(v) for v in self.workers.views(now, offset=offset, limit=limit + 1)]
            if len(page) < limit + 1:
                skip = max(0, offset - len(self.workers))
                idle = itertools.islice(self._idle(), skip, skip + limit + 1 - len(page))
                page += [self._idle_row(n) for n in idle]
            more = len(page) > limit
            page = page[:limit]
        return {"workers": page, "offset": offset, "limit": limit,
                "next_offset": offset + limit if more else None}  # fmt: skip

    def worker(self, name: str) -> dict[str, Any] | None:
        """One worker by name: O(1)."""
        view = self.workers.view(name, self.clock())
        if view is not None:
            return self._row(view)
        if name in self.server.worker_connections:
            return self._idle_row(name)
        return None

    def account(self, name: str) -> dict[str, Any] | None:
        """One account by name: its workers (O(its workers)), at most MAX_LIMIT rows."""
        rows = self.worker_page(MAX_LIMIT, account=name)["workers"]
        if not rows:
            return None
        return {
            "account": name,
            "hashrate_hs": sum(r["hashrate_hs"] for r in rows),
            "accepted_shares": sum(r["accepted_shares"] for r in rows),
            "workers": rows,
        }

    def block_list(self, limit: int | None = None) -> list[dict[str, Any]]:
        blocks = self.server.blocks
        rows = [_block(b) for b in itertools.islice(reversed(blocks), limit)]
        return rows


def _distribution(counts: dict[float, int]) -> dict[str, Any]:
    """count/min/median/max of {difficulty: connections}."""
    total = sum(counts.values())
    if not total:
        return {"count": 0, "min": None, "median": None, "max": None}
    values = sorted(counts)
    middle: list[float] = []
    seen = 0
    for value in values:  # the median of the expanded list, without expanding it
        for want in ((total - 1) // 2, total // 2):
            if seen <= want < seen + counts[value] and len(middle) < 2:
                middle.append(value)
        seen += counts[value]
    return {"count": total, "min": values[0], "median": statistics.fmean(middle),
            "max": values[-1]}  # fmt: skip


def _block(b: Any) -> dict[str, Any]:
    return {
        "height": b.height,
        "hash": b.block_hash,
        "worker": b.worker,
        "job_id": b.job_id,
        "accepted": b.result is None,
        "reject_reason": b.result,
        "time": b.submitted_at,
    }


def _integer(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw[:32])
    except ValueError:
        raise BadRequest(f"{name}: expected an integer {low}..{high}, got {raw!r:.40}") from None
    if not low <= value <= high or len(raw) > 32:
        raise BadRequest(f"{name}: expected an integer {low}..{high}, got {raw!r:.40}")
    return value


def parse_limit(raw: str | None) -> int | None:
    return None if raw is None else _integer(raw, "limit", 1, MAX_LIMIT)


def parse_offset(raw: str | None) -> int:
    return 0 if raw is None else _integer(raw, "offset", 0, MAX_OFFSET)


def parse_name(raw: str | None, name: str) -> str | None:
    if raw is not None and not 1 <= len(raw) <= MAX_NAME:
        raise BadRequest(f"{name}: expected 1..{MAX_NAME} characters")
    return raw


OPENAPI: dict[str, Any] = openapi()  # built from the answer models (pool.stats_schema)


# ---------------------------------------------------------------------- the HTTP shell


def _named(request: web.Request, what: str, look_up: Callable[[str], Any]) -> web.Response:
    """The answer for the `what` named in the path, or 404 naming it (cut to MAX_NAME:
    a name that long is nobody's and is not looked up)."""
    name = request.match_info[what]
    body = look_up(name) if len(name) <= MAX_NAME else None
    if body is None:
        return _json({"error": f"no {what} {name[:MAX_NAME]!r}"}, 404)
    return _json(body)


def _json(data: Any, status: int = 200) -> web.Response:
    """orjson: a page of a thousand workers encodes in a few milliseconds of the loop."""
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")  # fmt: skip


class StatsExtension(Protocol):
    """More routes on the same address (the miners' page: pool.stats_miner, pool.web_page),
    started and closed with the API."""

    def install(self, app: web.Application) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Answered(Exception):
    """Raised with a finished answer (the cluster's stats pass on a worker's refusal)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def error_middleware(cors_origin: str | None) -> Any:
    """Every answer JSON, errors too (400 for a bad parameter), with the CORS header."""

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Answered as answered:
            response = answered.response
        except BadRequest as exc:
            response = _json({"error": str(exc)}, 400)
        except web.HTTPException as exc:
            response = _json({"error": exc.reason}, exc.status)
        if cors_origin:
            response.headers["Access-Control-Allow-Origin"] = cors_origin
        return response

    return errors


class StatsApi:
    """Serves a PoolView over HTTP on the event loop."""

    def __init__(
        self, view: PoolView, config: StatsApiSection | None = None,
        extensions: Sequence[StatsExtension] = (),
    ) -> None:
        if config is None:  # the pool's `[stats_api]` defaults (pool.config owns the table)
            from pool.config import StatsApiSection

            config = StatsApiSection()
        self.view = view
        self.config = config
        self.extensions = tuple(extensions)
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware(self.config.cors_origin)])
        r = app.router
        r.add_get(f"{API_PREFIX}/pool", self.pool)
        r.add_get(f"{API_PREFIX}/workers", self.workers)
        r.add_get(f"{API_PREFIX}/workers/{{worker}}", self.worker)
        r.add_get(f"{API_PREFIX}/accounts/{{account}}", self.account)
        r.add_get(f"{API_PREFIX}/blocks", self.blocks)
        r.add_get("/openapi.json", self.openapi)
        for extension in self.extensions:
            extension.install(app)
        return app

    async def pool(self, request: web.Request) -> web.Response:
        return _json(self.view.summary())

    async def workers(self, request: web.Request) -> web.Response:
        """A page, built PAGE_CHUNK rows per turn of the loop so that miners' answers
        never wait behind a whole page."""
        query = request.query
        limit = parse_limit(query.get("limit"))
        limit = DEFAULT_PAGE if limit is None else limit
        offset = parse_offset(query.get("offset"))
        account = parse_name(query.get("account"), "account")
        rows: list[dict[str, Any]] = []
        at: int | None = offset
        while at is not None and len(rows) < limit:
            part = self.view.worker_page(min(PAGE_CHUNK, limit - len(rows)), at,
                                         account=account)
            rows += part["workers"]
            at = part["next_offset"]
            if at is not None and len(rows) < limit:
                await asyncio.sleep(0)
        return _json({"workers": rows, "offset": offset, "limit": limit, "next_offset": at})

    async def worker(self, request: web.Request) -> web.Response:
        return _named(request, "worker", self.view.worker)

    async def account(self, request: web.Request) -> web.Response:
        return _named(request, "account", self.view.account)

    async def blocks(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit"))
        return _json({"blocks": self.view.block_list(limit)})

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(OPENAPI)

    async def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        for extension in self.extensions:
            await extension.start()
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host if host is None else host,
                           self.config.port if port is None else port)  # fmt: skip
        try:
            await site.start()
        except OSError:  # the port is taken: release the runner, report the bind
            await self.close()
            raise
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info("stats API on http://%s:%d%s/pool", self.address[0], self.address[1],
                 API_PREFIX)  # fmt: skip
        return self.address

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        for extension in self.extensions:
            await extension.close()
