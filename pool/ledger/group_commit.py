"""Group commit: many awaiting submitters, one transaction per batch.

Each `submit` appends to a pending list and returns a future; a writer thread takes
everything pending, writes it in ONE durable transaction and only then resolves the
futures (one thread-safe callback per event loop per batch). So a caller that awaited
its share knows it is committed, and the cost of a commit (an fsync, a WAL flush) is
shared by every share that arrived while the previous commit ran.

Pipelined (delay 0, the default): a writer commits as soon as it is free and something is
pending, so a lone share waits for nobody and under load the batch is exactly what
arrived during the previous commit. Batches grow with load by themselves, and a share
waits at most for the commit in flight plus its own (batches up to `max_batch` rows).
A fixed linger instead adds its whole length to every share at moderate load and buys
nothing under heavy load, where batches fill during the commit anyway (benchmarks/ledger.py
at 20,000 shares/s: 1 ms linger p50 1.6-2.3 ms, pipelined 0.6-1.0 ms, at about the same
commits per second). With several writers (PostgreSQL: one connection each) the next
batch is sent while the previous one waits for its WAL flush; SQLite has one writer at a
time and uses one.

`delay` > 0 lets a batch that started alone wait a moment for company: the writer waits
until `delay` after the first pending arrival (not after it woke), trading that much
latency for fewer commits on a disk where each one is expensive.

Each GIL hand-off between the event loop and a writer thread can cost up to the
interpreter's switch interval when the loop is busy, so a batch costs as few as it can:
one wake-up of one writer for a burst of submits (not one per submit, not one per
writer), the database call, and one thread-safe callback per event loop.

One bad row never fails the others. Shares are validated before they are queued
(records.Share); should the database still refuse a batch because of its content
(`row_error(exc)` says so: a data or constraint error, a string it cannot encode), the
writer stores the batch again row by row, and only the refused rows fail: their caller
gets `SharesNotStored` naming them, with the ids of the rest. A connection or server
failure is not retried row by row (every row would wait for it again): the whole batch
fails, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pool.ledger.errors import LedgerClosed, SharesNotStored
from pool.ledger.records import Share

WriteBatch = Callable[[list[Share]], list[int]]
RowError = Callable[[BaseException], bool]

# (loop, future, shares, single) — single: resolve with the one id instead of a list
Entry = tuple[asyncio.AbstractEventLoop, asyncio.Future, Sequence[Share], bool]


def _resolve(items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    """Runs on the submitters' loop: hand each caller its ids, or its error."""
    for future, result, error in items:
        if not future.done():  # a cancelled caller simply no longer waits
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


class GroupCommitter:
    def __init__(
        self,
        write: WriteBatch | Sequence[WriteBatch],
        *,
        delay: float = 0.001,
        max_batch: int = 5000,
        name: str = "ledger-writer",
        on_commit: Callable[[int, float], None] | None = None,
        row_error: RowError | None = None,
    ) -> None:
        writers = [write] if callable(write) else list(write)
        if not writers:
            raise ValueError("a group committer needs at least one writer")
        self._delay = delay
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._row_error = row_error
        lock = threading.Lock()
        # two conditions on one lock, so that waking an idle writer can never land on a
        # lingering one instead (which would leave the idle writers asleep for good)
        self._cond = threading.Condition(lock)  # idle writers wait here for work
        self._full = threading.Condition(lock)  # lingering writers wait here for company
        self._pending: list[Entry] = []
        self._pending_rows = 0
        self._first_arrival = 0.0
        self._idle = 0  # writer threads waiting for work
        self._waking = False  # one idle writer was notified and has not run yet
        self._lingering = 0  # writer threads waiting for a batch to fill
        self._closing = False
        self._threads = [
            threading.Thread(target=self._run, args=(w,), name=f"{name}-{i}", daemon=True)
            for i, w in enumerate(writers)
        ]
        self.commits = 0
        self.rows = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, shares: Sequence[Share], single: bool = False) -> asyncio.Future[Any]:
        """Queue shares; the future resolves with their ids after the commit. Call from
        the event loop's thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self._closing:
                raise LedgerClosed("the ledger is closing; share not recorded")
            if not self._pending:
                self._first_arrival = time.monotonic()
            self._pending.append((loop, future, shares, single))
            self._pending_rows += len(shares)
            # wake one writer when they sleep for want of work (once per burst: the woken
            # writer takes everything pending when it runs), or a lingering one when its
            # batch is full; not on every arrival (each wake costs a GIL hand-off)
            if self._idle and not self._waking:
                self._waking = True
                self._cond.notify()
            elif self._lingering and self._pending_rows >= self._max_batch:
                self._full.notify()
        return future

    def _take(self) -> list[Entry] | None:
        with self._cond:
            while True:
                while not self._pending:
                    if self._closing:
                        return None
                    self._idle += 1
                    self._cond.wait()  # returns only when notified: this is the woken one
                    self._idle -= 1
                    self._waking = False
                while self._delay and not self._closing and self._pending_rows < self._max_batch:
                    left = self._first_arrival + self._delay - time.monotonic()
                    if left <= 0:
                        break
                    self._lingering += 1
                    self._full.wait(left)
                    self._lingering -= 1
                if self._pending:  # another writer may have taken it meanwhile
                    break
            if self._pending_rows <= self._max_batch:
                taken, self._pending = self._pending, []
                self._pending_rows = 0
            else:
                rows, cut = 0, 0
                while rows < self._max_batch:
                    rows += len(self._pending[cut][2])
                    cut += 1
                taken, self._pending = self._pending[:cut], self._pending[cut:]
                self._pending_rows -= rows
                self._first_arrival = time.monotonic()
            return taken

    def _run(self, write: WriteBatch) -> None:
        while True:
            entries = self._take()
            if entries is None:
                return
            shares = [s for entry in entries for s in entry[2]]
            ids: list[int | None] | None = None
            reasons: dict[int, str] = {}
            error: BaseException | None = None
            commits = 1
            started = time.perf_counter()
            try:
                ids = list(write(shares))
                if len(ids) != len(shares):
                    raise RuntimeError(f"writer returned {len(ids)} ids for {len(shares)} shares")
            except Exception as exc:  # handed to every caller: their shares are not durable
                error = exc
                if self._row_error is not None and self._row_error(exc):
                    ids, reasons, error = self._row_by_row(write, shares)
                    commits = sum(i is not None for i in ids)
            elapsed = time.perf_counter() - started
            stored = 0 if ids is None else len(shares) - len(reasons)
            if error is None and stored:  # counted before the callers can see their answers
                with self._cond:
                    self.commits += commits
                    self.rows += stored
            self._hand_back(entries, ids, reasons, error)
            if error is None and stored and self._on_commit is not None:  # after the answers
                self._on_commit(stored, elapsed)

    def _row_by_row(
        self, write: WriteBatch, shares: list[Share]
    ) -> tuple[list[int | None], dict[int, str], BaseException | None]:
        """Store a batch the database refused one row at a time: ids with None where a
        row was refused, and the reasons by position. An error that is not about a row
        (the connection broke) stops the retries: the batch fails as a whole when nothing
        was stored yet, else the rows not yet tried fail with that error."""
        ids: list[int | None] = []
        reasons: dict[int, str] = {}
        for i, share in enumerate(shares):
            try:
                ids.extend(write([share]))
            except Exception as exc:
                if self._row_error is not None and self._row_error(exc):
                    ids.append(None)
                    reasons[i] = _reason(exc)
                    continue
                if all(stored is None for stored in ids):
                    return ids, reasons, exc
                for rest in range(i, len(shares)):
                    ids.append(None)
                    reasons[rest] = _reason(exc)
                break
        return ids, reasons, None

    @staticmethod
    def _hand_back(
        entries: list[Entry], ids: list[int | None] | None, reasons: dict[int, str],
        error: BaseException | None,
    ) -> None:
        """Resolve every caller of a batch: one thread-safe callback per event loop. A
        caller whose rows were all stored gets its ids; one with a refused row gets
        SharesNotStored for its own rows only."""
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any, BaseException | None]]
        ] = {}
        pos = 0
        for loop, future, batch, single in entries:
            n = len(batch)
            result: Any = None
            failure = error
            if error is None and ids is not None:
                mine = ids[pos : pos + n]
                refused = {i - pos: reasons[i] for i in range(pos, pos + n) if i in reasons}
                if refused:
                    failure = SharesNotStored(mine, refused)
                else:
                    result = mine[0] if single else mine
            pos += n
            by_loop.setdefault(loop, []).append((future, result, failure))
        for loop, items in by_loop.items():
            # RuntimeError: that loop is closed, so nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, items)

    async def close(self) -> None:
        """Flush what is pending, then stop the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            self._full.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                await asyncio.to_thread(thread.join)

