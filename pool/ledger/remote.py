"""A pool process's side of the ledger writer (pool.ledger.writer_server): one Unix
socket connection to the process that owns the SQLite ledger, requests pipelined on it.

`WriterClient.request` resolves only with the writer's answer, and the writer answers a
batch of shares only after its group commit returned, so a share the pool answers `true`
on this path is committed exactly as with a ledger of its own. The share batches handed
in during one turn of the event loop travel as one request (up to ROWS_PER_FRAME rows):
the writer's cost is per request more than per share, and under load many small
validated batches arrive per turn.

When the writer is away (it died, it restarts) every request in flight fails with
`LedgerUnavailable` at once, and so does every new one until the connection is back:
the pool answers those shares with an error, never `true`. A batch that was committed
but whose answer was lost with the connection is in the ledger and answered with an
error: the miner is told less than it earned, never more. The client reconnects in the
background (0.05 s doubling to 1 s). At most `max_pending` requests wait for answers;
beyond that a request fails at once (the writer is behind; queuing more would only make
every miner wait longer for the same answer).

Bans (`follow_bans`, `publish_ban`): a ban this process makes goes to the writer, which
stores it and pushes it to the other processes; each (re)connection asks for the running
bans first, so a restarted process or writer misses none that still run. A writer that
is away costs the sharing only: the process's own bans go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from pool.ledger import frames, wire
from pool.ledger.bans import checked_ban
from pool.ledger.errors import LedgerClosed, LedgerError, SharesNotStored
from pool.ledger.records import BlockRow, FoundBlock, Share

log = logging.getLogger(__name__)

MAX_PENDING = 4096  # requests awaiting the writer's answer on one connection
ANSWER_TIMEOUT = 30.0  # seconds a request waits for its answer before it is an error
ROWS_PER_FRAME = 2000  # shares in one request: 2,000 rows of the longest names fit a frame
FIRST_RETRY = 0.05
MAX_RETRY = 1.0


OnBan = Callable[[str, float], None]  # (address key, until in epoch seconds)
PieceResult = tuple[list[int | None], dict[int, str]]  # ids, refused rows (by position)
Piece = tuple[list[Share], "asyncio.Future[PieceResult]"]


class LedgerUnavailable(LedgerError, ConnectionError):
    """The ledger writer is not connected: nothing of the request was answered as stored."""


class WriterClient:
    def __init__(self, path: Path | str, *, max_pending: int = MAX_PENDING,
                 on_commit: Callable[[int, float], None] | None = None,
                 answer_timeout: float = ANSWER_TIMEOUT) -> None:  # fmt: skip
        self.path = str(path)
        self.max_pending = max_pending
        self.answer_timeout = answer_timeout
        self.on_commit = on_commit
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._writer: asyncio.StreamWriter | None = None
        self._send = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._queue: list[Piece] = []  # share batches waiting for this turn's flush
        self._flush_soon = False
        self._groups: set[asyncio.Task[None]] = set()
        self._on_ban: OnBan | None = None
        self._bans: set[asyncio.Task[None]] = set()  # ban requests on their way
        self.commits = 0
        self.rows = 0
        self.reconnects = 0

    async def start(self, timeout: float) -> None:
        """Connect (the writer may still be starting: retried until `timeout`), then keep
        the connection in the background."""
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="ledger-client")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            await self.close()
            raise LedgerUnavailable(
                f"no ledger writer answers on {self.path} within {timeout:g} s"
            ) from None

    async def _keep(self) -> None:
        delay = FIRST_RETRY
        was_connected = False
        while not self._closing:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)
                continue
            delay = FIRST_RETRY
            if was_connected:
                self.reconnects += 1
                log.warning("ledger writer reachable again on %s: shares are recorded again",
                            self.path)  # fmt: skip
            was_connected = True
            self._writer = writer
            self._connected.set()
            if self._on_ban is not None:
                self._spawn(self._follow())
            why = await self._read(reader)
            self._connected.clear()
            self._writer = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._fail_pending(why)
            if not self._closing:
                log.error("ledger writer connection lost (%r): shares are answered with an "
                          "error until it is back", why)  # fmt: skip

    async def _read(self, reader: asyncio.StreamReader) -> str:
        """Resolve answers (and hand on pushed bans) until the connection ends; return why
        it ended."""
        while True:
            try:
                message = await frames.read_frame(reader)
            except (frames.FrameError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"
            if message is None:
                return "the writer closed the connection"
            if wire.is_push(message):
                try:
                    self._heard(*wire.pushed_ban(message))
                except wire.WireError as exc:
                    return str(exc)
                continue
            try:
                future = self._pending.pop(wire.request_id(message))
            except (KeyError, wire.WireError):
                return f"an answer to no request: {str(message)[:120]}"
            if not future.done():
                future.set_result(message)

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(LedgerUnavailable(f"ledger writer connection lost: {why}"))

    async def request(self, build: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        """Send the message `build(id)` and return the writer's answer (an answer with an
        `error` raises LedgerError)."""
        if self._closing:
            raise LedgerClosed("the ledger is closing; nothing recorded")
        writer = self._writer
        if writer is None or not self._connected.is_set():
            raise LedgerUnavailable(f"the ledger writer on {self.path} is not connected")
        if len(self._pending) >= self.max_pending:
            raise LedgerUnavailable(f"{len(self._pending)} requests already wait for the "
                                    "ledger writer")  # fmt: skip
        self._next_id += 1
        request_id = self._next_id
        frame = frames.encode(build(request_id))  # FrameError (a ValueError): too big
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with self._send:
                if self._writer is not writer:  # lost while waiting for the turn to send
                    raise ConnectionResetError("the connection was lost")
                writer.write(frame)
                await writer.drain()
        except (OSError, RuntimeError) as exc:
            self._pending.pop(request_id, None)
            raise LedgerUnavailable(f"cannot send to the ledger writer: {exc}") from None
        except BaseException:  # cancelled while waiting for its turn: nothing was sent
            self._pending.pop(request_id, None)
            raise
        try:
            answer = await asyncio.wait_for(future, self.answer_timeout)
        except TimeoutError:
            # A writer alive but stuck (a stalled disk, a lock held from outside): the
            # miner is told less, never more. The id stays known until its answer comes
            # (its future cancelled by the deadline: dropped) or the connection goes.
            raise LedgerUnavailable(f"the ledger writer did not answer within "
                                    f"{self.answer_timeout:g} s") from None  # fmt: skip
        error = answer.get("error")
        if error is not None:
            raise LedgerError(f"the ledger writer did not store it: {str(error)[:300]}")
        return answer

    # -- bans -----------------------------------------------------------------------------

    def follow_bans(self, on_ban: OnBan) -> None:
        """Call `on_ban` (key, until) for every running ban of the cluster now and on each
        reconnection, and for each ban another process makes from then on."""
        self._on_ban = on_ban
        if self._connected.is_set():
            self._spawn(self._follow())

    async def _follow(self) -> None:
        try:
            bans = wire.bans_of(await self.request(wire.bans_request))
        except (LedgerUnavailable, LedgerClosed):
            return  # lost again (the next connection asks again), or closing
        except LedgerError as exc:
            log.warning("cannot read the cluster's running bans: %r", str(exc)[:300])
            return
        for key, until in bans:
            self._heard(key, until)

    def _heard(self, key: str, until: float) -> None:
        if self._on_ban is not None and until > time.time():
            try:
                self._on_ban(key, until)
            except Exception:
                log.exception("a ban of the cluster could not be applied")

    def publish_ban(self, key: str, seconds: float, reason: str, node: str = "") -> None:
        """A ban this process made, for the other processes (never blocks; the Stratum
        server's `ban_listener`)."""
        until = time.time() + seconds
        # a key the writer would refuse would close this connection: never sent
        if seconds <= 0 or self._closing or checked_ban(key, until) is None:
            return
        self._spawn(self._publish(key, until, reason, node))

    async def _publish(self, key: str, until: float, reason: str, node: str) -> None:
        try:
            await self.request(partial(wire.ban_request, key=key, until=until, reason=reason,
                                       node=node))  # fmt: skip
        except LedgerError as exc:
            log.warning("cannot share the ban of %s with the cluster: %r", key[:80],
                        str(exc)[:200])  # fmt: skip

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._bans.add(task)
        task.add_done_callback(self._bans.discard)

    # -- what the Ledger asks -------------------------------------------------------------

    async def record_shares(self, shares: Sequence[Share]) -> list[int]:
        """Commit `shares` through the writer; their ids. Rows the database refused come
        back as SharesNotStored, as from a group commit of one's own."""
        if self._closing:
            raise LedgerClosed("the ledger is closing; nothing recorded")
        if self._writer is None or not self._connected.is_set():
            raise LedgerUnavailable(f"the ledger writer on {self.path} is not connected")
        if len(self._pending) + len(self._queue) >= self.max_pending:
            raise LedgerUnavailable(f"{len(self._pending) + len(self._queue)} requests "
                                    "already wait for the ledger writer")  # fmt: skip
        started = time.perf_counter()
        pieces = [list(shares[i : i + ROWS_PER_FRAME])
                  for i in range(0, len(shares), ROWS_PER_FRAME)]  # fmt: skip
        results = await asyncio.gather(*(self._queue_piece(piece) for piece in pieces),
                                       return_exceptions=True)  # fmt: skip
        ids: list[int | None] = []
        reasons: dict[int, str] = {}
        for piece, result in zip(pieces, results, strict=True):
            base = len(ids)
            if isinstance(result, BaseException):
                if len(pieces) == 1:
                    raise result
                ids.extend([None] * len(piece))
                reasons.update({base + i: str(result)[:300] for i in range(len(piece))})
                continue
            got, why = result
            ids.extend(got)
            reasons.update({base + pos: text for pos, text in why.items()})
        stored = len(ids) - len(reasons)
        if stored:
            self.commits += 1
            self.rows += stored
            if self.on_commit is not None:
                self.on_commit(stored, time.perf_counter() - started)
        if reasons:
            raise SharesNotStored(ids, reasons)
        return ids  # type: ignore[return-value]  # no reasons: every id is there

    def _queue_piece(self, rows: list[Share]) -> asyncio.Future[PieceResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PieceResult] = loop.create_future()
        self._queue.append((rows, future))
        if not self._flush_soon:
            self._flush_soon = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        """Send what was queued during this turn of the event loop in as few frames as
        fit: the batches of many validations (and of many sessions) travel and are
        decoded as one request, as the writer commits them as one transaction anyway."""
        self._flush_soon = False
        queue, self._queue = self._queue, []
        group: list[Piece] = []
        rows = 0
        for piece in queue:
            if group and rows + len(piece[0]) > ROWS_PER_FRAME:
                self._send_soon(group)
                group, rows = [], 0
            group.append(piece)
            rows += len(piece[0])
        if group:
            self._send_soon(group)

    def _send_soon(self, group: list[Piece]) -> None:
        task = asyncio.ensure_future(self._send_group(group))
        self._groups.add(task)
        task.add_done_callback(self._groups.discard)

    async def _send_group(self, group: list[Piece]) -> None:
        """One request for the pieces of `group`; each piece's caller gets its own ids
        and refused rows (or the request's error)."""
        rows = [share for piece, _ in group for share in piece]
        try:
            answer = await self.request(partial(wire.shares_request, shares=rows))
            got = answer.get("ids")
            if not isinstance(got, list) or len(got) != len(rows):
                raise LedgerError("the ledger writer answered with the wrong number of ids")
            ids = [None if i is None else int(i) for i in got]
            reasons = {int(k): str(v) for k, v in (answer.get("reasons") or {}).items()}
        except Exception as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        base = 0
        for piece, future in group:
            n = len(piece)
            if not future.done():
                future.set_result((ids[base : base + n],
                                   {pos - base: why for pos, why in reasons.items()
                                    if base <= pos < base + n}))  # fmt: skip
            base += n

    async def record_network(
        self, height: int, difficulty: Fraction, subsidy: int, fees: int
    ) -> None:
        await self.request(lambda rid: wire.network_request(rid, height, difficulty,
                                                            subsidy, fees))  # fmt: skip

    async def record_block(self, found: FoundBlock) -> BlockRow:
        answer = await self.request(lambda rid: wire.block_request(rid, found))
        return wire.block_row_of(answer.get("block"))

    async def close(self) -> None:
        self._closing = True
        writer = self._writer
        if writer is not None:
            writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_pending("the ledger is closing")
        for task in list(self._bans):
            task.cancel()
        if self._bans:
            await asyncio.gather(*self._bans, return_exceptions=True)


class RemoteCommitter:
    """The group committer's face (`submit`, `commits`, `close`) over a WriterClient, so
    the Ledger's hot path reads the same with a writer of its own or the cluster's."""

    def __init__(self, client: WriterClient) -> None:
        self.client = client

    def submit(self, shares: Sequence[Share], single: bool = False) -> asyncio.Future[Any]:
        async def one() -> Any:
            ids = await self.client.record_shares(shares)
            return ids[0] if single else ids

        return asyncio.ensure_future(one())

    @property
    def commits(self) -> int:
        return self.client.commits

    @property
    def rows(self) -> int:
        return self.client.rows

    async def close(self) -> None:
        await self.client.close()
