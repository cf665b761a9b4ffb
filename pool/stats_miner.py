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

`MinerView` builds the answers (pure reads of the live objects, tested without a socket);
`MinerApi` is the aiohttp shell, installed into the stats API by pool.app_observe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web

from pool.bitcoin.target import DIFF1_TARGET
from pool.hashrate_history import HASHES_PER_DIFF1, SERIES, HashrateHistory
from pool.ledger.reader import LedgerReader, PayoutRow, PplnsWindow
from pool.ledger.records import BlockRow, Scheme
from pool.metrics.collector import REJECT_REASONS
from pool.stats_api import BadRequest, _json, parse_limit, parse_name, parse_offset
from pool.stats_schema import API_PREFIX, MAX_LIMIT, MINER_PAGE, RANGES
from pool.stratum.identity import account_of
from pool.worker_rejects import RejectBook
from pool.workers import WorkerBook, WorkerView

if TYPE_CHECKING:
    from pool.app_stats import BlockOutcome
    from pool.config import PoolConfig, StatsApiSection
    from pool.ledger.ledger import Ledger
    from pool.stratum.server import StratumServer

log = logging.getLogger(__name__)

T = TypeVar("T")
LIVE_TTL_S = 2.0  # answers built from memory
LEDGER_TTL_S = 5.0  # answers read from the ledger
WINDOW_REFRESH_S = 10.0
ROW_CHUNK = 500  # worker rows built per turn of the event loop
PAYOUT_STATUS = {"created": "sending", "sent": "sent", "cancelled": "cancelled"}


class PoolFacts(Protocol):
    """What the running pool offers the page beyond the server (pool.app.PoolApp)."""

    @property
    def ledger(self) -> Ledger | None: ...

    @property
    def blocks(self) -> Sequence[BlockOutcome]: ...


class NotFound(LookupError):
    """The pool knows no such account (the message says so plainly)."""


def unknown_account(account: str) -> NotFound:
    return NotFound(f"no miner {account[:128]!r} at this pool: nothing was mined to this "
                    "address or name recently; check it, or wait for your first share")  # fmt: skip


# ---------------------------------------------------------------------- pure views


def _rejected(counts: dict[int, int]) -> dict[str, int]:
    return {reason: counts.get(code, 0) for code, reason in REJECT_REASONS.items()}


def _block_row(b: BlockRow) -> dict[str, Any]:
    return {"height": b.height, "hash": b.hash, "time": b.found_at, "worker": b.worker,
            "account": b.account, "status": b.status.value, "reward_sat": b.reward}  # fmt: skip


def _outcome_row(b: BlockOutcome) -> dict[str, Any]:
    """A block without a ledger: rejected by the node, pending until followed up, then
    on the chain at its height (confirmed) or not (orphaned)."""
    if b.reason is not None:
        status = "rejected"
    elif b.confirmed:
        status = "confirmed"
    elif b.followed:
        status = "orphaned"
    else:
        status = "pending"
    return {"height": b.height, "hash": b.hash, "time": b.submitted_at, "worker": b.worker,
            "account": account_of(b.worker), "status": status, "reward_sat": b.reward}  # fmt: skip


def _payout_row(p: PayoutRow) -> dict[str, Any]:
    return {"batch_id": p.batch_id, "amount_sat": p.amount, "address": p.address,
            "status": PAYOUT_STATUS.get(p.status, p.status), "txid": p.txid,
            "time": p.created_at}  # fmt: skip


def _page(rows: list[dict[str, Any]], key: str, limit: int, offset: int,
          more: bool) -> dict[str, Any]:  # fmt: skip
    return {key: rows, "offset": offset, "limit": limit,
            "next_offset": offset + limit if more else None}  # fmt: skip


class MinerView:
    """Answers built from the live server, the books and the history."""

    def __init__(
        self, server: StratumServer, workers: WorkerBook, rejects: RejectBook,
        history: HashrateHistory, config: PoolConfig, section: StatsApiSection,
        facts: PoolFacts | None = None, *, clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.workers = workers
        self.rejects = rejects
        self.history = history
        self.config = config
        self.section = section
        self.facts = facts
        self.clock = clock

    def network_difficulty(self) -> float | None:
        job = self.server.jobs.current
        return None if job is None else DIFF1_TARGET / job.network_target

    def _expected(self, hashrate: float) -> float | None:
        difficulty = self.network_difficulty()
        if difficulty is None or hashrate <= 0:
            return None
        return difficulty * HASHES_PER_DIFF1 / hashrate

    def connect(self) -> dict[str, Any]:
        config, section = self.config, self.section
        stratum = self.server.config  # what the server runs with
        if config.mode == "solo":
            username = "<your address>.<rig name>"
        elif config.accounts:
            username = "<your address, or the account name the pool gave you>.<rig name>"
        else:
            username = "<your address>.<rig name>"
        vardiff = stratum.vardiff
        return {
            "stratum_url": section.stratum_url,
            "stratum_port": self.server.address[1] if self.server.address else stratum.port,
            "tls_url": section.tls_url,
            "username": username,
            "password": f"d={vardiff.initial:g}",
            "suggested_difficulty": vardiff.initial,
            "target_share_interval_s": vardiff.target_interval,
        }

    def block_counts(self, ledger_counts: dict[str, int] | None) -> dict[str, int]:
        """Blocks by status: the ledger's (its blocks were accepted), plus the candidates
        the node refused; without a ledger, the pool's own list."""
        stats = self.server.stats
        refused = max(0, stats.blocks_found - stats.blocks_accepted)
        if ledger_counts is None:
            counts = {"pending": 0, "confirmed": 0, "orphaned": 0, "rejected": 0}
            for b in self.facts.blocks if self.facts is not None else ():
                counts[_outcome_row(b)["status"]] += 1
        else:
            counts = {s: ledger_counts.get(s, 0) for s in ("pending", "confirmed", "orphaned")}
            counts["rejected"] = refused
        return {"found": sum(counts.values()), **counts}

    def overview(
        self, ledger_counts: dict[str, int] | None, last_block_time: float | None,
    ) -> dict[str, Any]:
        now = self.clock()
        config = self.config
        ledger = config.ledger
        hashrate = self.workers.total_hashrate(now)
        job = self.server.jobs.current
        pplns = ledger is not None and ledger.scheme is Scheme.PPLNS
        return {
            "time": now,
            "mode": config.mode,
            "network": config.network,
            "scheme": None if ledger is None else ledger.scheme.value,
            "fee_percent": None if ledger is None or config.mode == "solo"
            else float(ledger.fee_percent),
            "pplns_window_blocks": float(ledger.pplns_n) if ledger is not None and pplns else None,
            "min_payout_sat": None if ledger is None or config.mode == "solo"
            else ledger.min_payout_sat,
            "maturity": None if ledger is None else ledger.maturity,
            "hashrate_hs": hashrate,
            "hashrate_window_s": self.workers.window_s,
            "miners_online": self.history.active_accounts(self.workers.window_s, now),
            "workers_online": self.workers.active(now),
            "network_difficulty": self.network_difficulty(),
            "height": None if job is None else job.height,
            "expected_block_s": self._expected(hashrate),
            "blocks": self.block_counts(ledger_counts),
            "last_block_time": last_block_time,
            "connect": self.connect(),
        }  # fmt: skip

    def last_block_time(self) -> float | None:
        """Without a ledger: the pool's own list."""
        blocks = [b for b in self.facts.blocks if b.reason is None] if self.facts else []
        return blocks[-1].submitted_at if blocks else None

    def chart(self, span: str, account: str | None = None) -> dict[str, Any] | None:
        points = self.history.series(span, account, self.clock())
        if points is None:
            return None
        return {"range": span, "bucket_s": SERIES[span].bucket_s,
                "points": [{"time": t, "hashrate_hs": v} for t, v in points]}  # fmt: skip

    def memory_blocks(self, limit: int, offset: int,
                      account: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Blocks newest first from the pool's own list (no ledger)."""
        blocks = list(self.facts.blocks) if self.facts is not None else []
        rows = [_outcome_row(b) for b in reversed(blocks)
                if account is None or account_of(b.worker) == account]  # fmt: skip
        return _page(rows[offset:offset + limit], "blocks", limit, offset,
                     offset + limit < len(rows))  # fmt: skip

    # ---- one account

    def _worker_row(self, v: WorkerView | None, name: str, now: float) -> dict[str, Any]:
        session = self.server.worker_session.get(name)
        connected = name in self.server.worker_connections
        if v is None or not v.accepted:
            status = "new" if connected else "offline"
        else:
            status = "online" if now - v.last_share <= self.section.offline_after else "offline"
        rig = name.split(".", 1)[1] if "." in name else ""
        return {
            "worker": name,
            "rig": rig,
            "status": status,
            "connected": connected,
            "hashrate_hs": 0.0 if v is None else v.hashrate,
            "accepted_shares": 0 if v is None else v.accepted,
            "last_share_time": None if v is None else v.last_share,
            "difficulty": None if session is None or session.closed else float(session.difficulty),
            "rejected": _rejected(self.rejects.counts(name)),
            "best_share_difficulty": None if v is None or not v.best else v.best,
        }

    def worker_names(self, account: str) -> tuple[list[WorkerView], list[str]]:
        """The account's workers with shares (highest hashrate first) and those connected
        without a share yet: O(its workers)."""
        now = self.clock()
        views = self.workers.account(account, now)
        book = self.workers
        idle = [n for n in self.server.account_workers.get(account, {}) if n not in book]
        return views, idle

    def worker_rows(self, views: list[WorkerView], idle: list[str]) -> list[dict[str, Any]]:
        now = self.clock()
        rows = [self._worker_row(v, v.worker, now) for v in views]
        rows += [self._worker_row(None, n, now) for n in idle]
        order = {"online": 0, "new": 1, "offline": 2}
        rows.sort(key=lambda r: order[r["status"]])  # stable: hashrate order within each
        return rows

    def knows(self, account: str) -> bool:
        """Whether anything of this account is in memory (the ledger may know it too)."""
        return (account in self.history or bool(self.workers.account(account))
                or account in self.server.account_workers)  # fmt: skip

    def miner(
        self, account: str, rows: list[dict[str, Any]], balance: Any | None,
        window: PplnsWindow | None, *, ledger_read: bool = True,
    ) -> dict[str, Any]:
        """`balance`: the ledger's row (None: no credit yet, or, without `ledger_read`,
        no ledger to ask)."""
        now = self.clock()
        hashrate = sum(r["hashrate_hs"] for r in rows)
        online = sum(1 for r in rows if r["status"] == "online")
        lasts = [r["last_share_time"] for r in rows if r["last_share_time"] is not None]
        window_answer = None
        if window is not None:
            mine = window.of(account)
            window_answer = {
                "shares": mine.shares, "difficulty": mine.difficulty,
                "window_difficulty": window.total,
                "fraction": mine.difficulty / window.total if window.total > 0 else 0.0,
                "complete": window.complete,
            }  # fmt: skip
        balance_answer = None
        if balance is not None:
            balance_answer = {"immature_sat": balance.immature, "payable_sat": balance.payable,
                              "pending_sat": balance.pending, "paid_sat": balance.paid}  # fmt: skip
        elif ledger_read and self.config.ledger is not None and self.config.mode == "pool":
            balance_answer = {"immature_sat": 0, "payable_sat": 0, "pending_sat": 0,
                              "paid_sat": 0}  # fmt: skip
        return {
            "account": account,
            "time": now,
            "mode": self.config.mode,
            "hashrate_hs": hashrate,
            "workers_online": online,
            "workers_offline": len(rows) - online,
            "last_share_time": max(lasts) if lasts else None,
            "offline_after_s": self.section.offline_after,
            "expected_block_s": self._expected(hashrate),
            "pplns_window": window_answer,
            "balance": balance_answer,
        }


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
            ("pool/overview", self.overview), ("pool/hashrate", self.pool_hashrate),
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
        pplns_n = float(self.view.config.ledger.pplns_n)  # type: ignore[union-attr]
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

    async def pool_hashrate(self, request: web.Request) -> web.Response:
        span = _range(request)

        async def build() -> dict[str, Any] | None:
            return self.view.chart(span)

        return _json(await self.cache.get(("chart", span), LIVE_TTL_S, build))

    async def _blocks(self, limit: int, offset: int, account: str | None) -> dict[str, Any]:
        if self.reader is None:
            return self.view.memory_blocks(limit, offset, account)
        rows = await self._ledger(lambda r: r.blocks(limit + 1, offset, account)) or []
        return _page([_block_row(b) for b in rows[:limit]], "blocks", limit, offset,
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
        return _json(_page(rows[offset:offset + limit], "workers", limit, offset,
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
            return _page([_payout_row(p) for p in rows[:limit]], "payouts", limit, offset,
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
