"""The stats API's endpoints for the miners' page (pool/web): the pool page and one
account's page, every figure the page shows, nothing the page does not.

    GET /api/v1/pool/overview            what the pool page shows, at one moment
    GET /api/v1/pool/hashrate?range=R    the pool's chart: R = 1h | 24h | 7d
    GET /api/v1/pool/blocks              blocks found: height, time, finder, status, reward
    GET /api/v1/miner?account=A          one account: hashrate, workers, window, balance
    GET /api/v1/miner/workers?account=A  its workers (online first), a page at a time
    GET /api/v1/miner/hashrate?account=A&range=R
    GET /api/v1/miner/payouts?account=A  its payouts with their txids
    GET /api/v1/miner/blocks?account=A   blocks its workers found (solo finders)

An account is named in the query, never in the path: a name may hold '/', '?' or '#'.
An account answers only with its own workers and money; nothing here lists the pool's
miners. Every answer is cached for a moment (`TtlCache`, one computation however many
ask at once), and each costs O(the account's workers) or one indexed ledger query, never
O(the pool's workers): the book, the reject book, the history and the server's account
index are keyed by name. Ledger reads run on a connection and thread of their own
(pool.ledger.reader); the PPLNS window moves every WINDOW_REFRESH_S seconds.

`MinerView` (pool.miner_view) builds the answers from the live objects; `MinerApi` here
is the aiohttp shell, installed into the stats API by pool.app_observe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from pool.ledger.reader import LedgerReader, PplnsWindow
from pool.ledger.records import Scheme
from pool.miner_view import (
    MinerView,
    NotFound,
    block_answer,
    page_of,
    payout_answer,
    unknown_account,
)
from pool.stats_api import BadRequest, _json, parse_limit, parse_name, parse_offset
from pool.stats_schema import API_PREFIX, MAX_LIMIT, MINER_PAGE, RANGES

log = logging.getLogger(__name__)

T = TypeVar("T")
LIVE_TTL_S = 2.0  # answers built from memory
LEDGER_TTL_S = 5.0  # answers read from the ledger
WINDOW_REFRESH_S = 10.0
ROW_CHUNK = 500  # worker rows built per turn of the event loop


# ---------------------------------------------------------------------- the shell


class TtlCache:
    """Answers kept for a few seconds; callers asking for one being computed wait for
    that computation instead of starting another. Bounded: the oldest entry goes first."""

    def __init__(self, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Any, tuple[float, asyncio.Future[Any]]] = OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    async def get(self, key: Any, ttl: float, compute: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and (entry[0] > now or not entry[1].done()):
            return await asyncio.shield(entry[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._entries[key] = (now + ttl, future)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        try:
            value = await compute()
        except BaseException as exc:
            if self._entries.get(key, (0, None))[1] is future:
                del self._entries[key]
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: no warning when nobody else waited
            else:
                future.cancel()
            raise
        future.set_result(value)
        return value


def _account(request: web.Request) -> str:
    account = parse_name(request.query.get("account"), "account")
    if account is None:
        raise BadRequest("account: required (an address, or the account name you mine as)")
    return account


def _range(request: web.Request) -> str:
    span = request.query.get("range", "1h")
    if span not in RANGES:
        raise BadRequest(f"range: expected one of {', '.join(RANGES)}, got {span[:20]!r}")
    return span


def _paging(request: web.Request) -> tuple[int, int]:
    limit = parse_limit(request.query.get("limit"))
    return (MINER_PAGE if limit is None else limit), parse_offset(request.query.get("offset"))


class MinerApi:
    """The miners' page endpoints, installed into a StatsApi (its `extensions`)."""

    def __init__(self, view: MinerView) -> None:
        self.view = view
        self.cache = TtlCache()
        ledger = view.config.ledger
        self._ledger_config = ledger
        self.reader: LedgerReader | None = None
        self._executor: Any = None
        pplns = ledger is not None and ledger.scheme is Scheme.PPLNS and view.config.mode == "pool"
        self.window: PplnsWindow | None = PplnsWindow() if pplns else None
        self._window_task: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        r = app.router
        for path, handler in (
            ("pool/overview", self.overview), ("pool/online", self.pool_online),
            ("pool/hashrate", self.pool_hashrate),
            ("pool/blocks", self.pool_blocks), ("miner", self.miner),
            ("miner/workers", self.miner_workers), ("miner/hashrate", self.miner_hashrate),
            ("miner/payouts", self.miner_payouts), ("miner/blocks", self.miner_blocks),
        ):
            r.add_get(f"{API_PREFIX}/{path}", handler)

    # ---- the ledger, on a thread of its own

    async def start(self) -> None:
        if self._ledger_config is None:
            return
        from concurrent.futures import ThreadPoolExecutor

        from pool.ledger.factory import open_backend

        config = self._ledger_config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stats-ledger")
        backend = await self._run(lambda: open_backend(config, migrate=False))
        self.reader = LedgerReader(backend)
        if self.window is not None:
            self._window_task = asyncio.get_running_loop().create_task(self._follow_window())

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _follow_window(self) -> None:
        window, reader = self.window, self.reader
        assert window is not None and reader is not None
        ledger = self.view.config.ledger
        assert ledger is not None  # the window is followed only in pool mode, with a ledger
        pplns_n = float(ledger.pplns_n)
        while True:
            difficulty = self.view.network_difficulty()
            if difficulty is not None:
                size = pplns_n * difficulty
                try:
                    await self._run(functools.partial(window.refresh, reader, size))
                except Exception as exc:  # the database is away: say so, try again later
                    log.warning("stats: cannot read the PPLNS window: %s: %r",
                                type(exc).__name__, str(exc)[:200])  # fmt: skip
            await asyncio.sleep(WINDOW_REFRESH_S)

    async def close(self) -> None:
        if self._window_task is not None:
            self._window_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._window_task
            self._window_task = None
        if self.reader is not None:
            reader, self.reader = self.reader, None
            with contextlib.suppress(Exception):
                await self._run(reader.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _ledger(self, fn: Callable[[LedgerReader], T]) -> T | None:
        """A read on the ledger's thread; a database that cannot answer is a 503 with a
        plain message (its own words go to the log), never a traceback."""
        reader = self.reader
        if reader is None:
            return None
        try:
            return await self._run(lambda: fn(reader))
        except Exception as exc:
            log.warning("stats: cannot read the ledger: %s: %r", type(exc).__name__,
                        str(exc)[:200])  # fmt: skip
            raise web.HTTPServiceUnavailable(
                reason="the pool's ledger cannot be read now; try again shortly") from None

    # ---- the pool page

    async def overview(self, request: web.Request) -> web.Response:
        async def build() -> dict[str, Any]:
            counts = await self._ledger(LedgerReader.block_counts)
            last: float | None
            if self.reader is not None:
                newest = await self._ledger(lambda r: r.blocks(1))
                last = newest[0].found_at if newest else None
            else:
                last = self.view.last_block_time()
            return self.view.overview(counts, last)

        return _json(await self.cache.get("overview", LIVE_TTL_S, build))

    async def pool_online(self, request: web.Request) -> web.Response:
        async def build() -> dict[str, Any]:
            return self.view.online()

        return _json(await self.cache.get("online", LIVE_TTL_S, build))

    async def pool_hashrate(self, request: web.Request) -> web.Response:
        span = _range(request)

        async def build() -> dict[str, Any] | None:
            return self.view.chart(span)

        return _json(await self.cache.get(("chart", span), LIVE_TTL_S, build))

    async def _blocks(self, limit: int, offset: int, account: str | None) -> dict[str, Any]:
        if self.reader is None:
            return self.view.memory_blocks(limit, offset, account)
        rows = await self._ledger(lambda r: r.blocks(limit + 1, offset, account)) or []
        return page_of([block_answer(b) for b in rows[:limit]], "blocks", limit, offset,
                     len(rows) > limit)  # fmt: skip

    async def pool_blocks(self, request: web.Request) -> web.Response:
        limit, offset = _paging(request)

        async def build() -> dict[str, Any]:
            return await self._blocks(limit, offset, None)

        return _json(await self.cache.get(("blocks", limit, offset), LEDGER_TTL_S, build))

    # ---- one account

    async def _rows(self, account: str) -> list[dict[str, Any]]:
        """All of the account's worker rows, built ROW_CHUNK a turn of the loop."""

        async def build() -> list[dict[str, Any]]:
            views, idle = self.view.worker_names(account)
            rows: list[dict[str, Any]] = []
            for start in range(0, max(len(views), len(idle)), ROW_CHUNK):
                if start:
                    await asyncio.sleep(0)
                rows += self.view.worker_rows(views[start:start + ROW_CHUNK], [])
            rows += self.view.worker_rows([], idle[:MAX_LIMIT])
            order = {"online": 0, "new": 1, "offline": 2}
            rows.sort(key=lambda r: order[r["status"]])
            return rows

        return await self.cache.get(("rows", account), LIVE_TTL_S, build)

    async def _known(self, account: str) -> None:
        if self.view.knows(account):
            return
        balance = await self._ledger(lambda r: r.balance(account))
        if balance is None:
            raise unknown_account(account)

    async def miner(self, request: web.Request) -> web.Response:
        account = _account(request)

        async def build() -> dict[str, Any] | str:
            balance = await self._ledger(lambda r: r.balance(account))
            if balance is None and not self.view.knows(account):
                return str(unknown_account(account))
            rows = await self._rows(account)
            return self.view.miner(account, rows, balance, self.window,
                                   ledger_read=self.reader is not None)

        answer = await self.cache.get(("miner", account), LIVE_TTL_S, build)
        if isinstance(answer, str):
            return _json({"error": answer}, 404)
        return _json(answer)

    async def miner_workers(self, request: web.Request) -> web.Response:
        account = _account(request)
        limit, offset = _paging(request)
        try:
            await self._known(account)
        except NotFound as exc:
            return _json({"error": str(exc)}, 404)
        rows = await self._rows(account)
        return _json(page_of(rows[offset:offset + limit], "workers", limit, offset,
                           offset + limit < len(rows)))  # fmt: skip

    async def miner_hashrate(self, request: web.Request) -> web.Response:
        account = _account(request)
        span = _range(request)

        async def build() -> dict[str, Any] | None:
            return self.view.chart(span, account)

        chart = await self.cache.get(("chart", span, account), LIVE_TTL_S, build)
        if chart is None:
            try:
                await self._known(account)
            except NotFound as exc:
                return _json({"error": str(exc)}, 404)
            chart = self.view.chart(span)  # known (the ledger), no history: an empty chart
            assert chart is not None
            chart["points"] = [{**p, "hashrate_hs": None} for p in chart["points"]]
        return _json(chart)

    async def miner_payouts(self, request: web.Request) -> web.Response:
        account = _account(request)
        limit, offset = _paging(request)

        async def build() -> dict[str, Any]:
            rows = await self._ledger(lambda r: r.payouts(account, limit + 1, offset)) or []
            return page_of([payout_answer(p) for p in rows[:limit]], "payouts", limit, offset,
                         len(rows) > limit)  # fmt: skip

        return _json(await self.cache.get(("payouts", account, limit, offset), LEDGER_TTL_S,
                                          build))  # fmt: skip

    async def miner_blocks(self, request: web.Request) -> web.Response:
        account = _account(request)
        limit, offset = _paging(request)

        async def build() -> dict[str, Any]:
            return await self._blocks(limit, offset, account)

        return _json(await self.cache.get(("blocks", account, limit, offset), LEDGER_TTL_S,
                                          build))  # fmt: skip
