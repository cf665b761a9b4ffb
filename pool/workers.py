"""The worker book: accepted shares per worker, kept incrementally for the hashrate
estimate, the metrics and the stats API.

Every figure a scrape or an API call needs is kept as shares arrive, so reading it never
walks the whole book on the event loop (share answers wait behind anything that does):

- per worker: totals, and the credited difficulty of the last `window_s` seconds in a
  ring of `bucket_s` slots (a fixed array of floats, whatever the share rate) with its
  running sum, so a worker's hashrate is O(1);
- for the pool: the same ring summed over every worker (pool hashrate, O(slots)) and a
  ring counting workers by the slot of their last share (active workers, O(slots));
- per account: the names of its workers (a lookup by account is O(its workers)).

The book holds at most `max_workers` workers: the one silent longest goes first when a
new one arrives, and a worker silent for `forget_s` is dropped, so memory is bounded by
the cap and each worker's share of it is fixed (its name is bounded at authorize).

Ordering by hashrate is the one thing that needs every worker. Up to `SYNC_RANK` workers
it is computed on each call; above that a background task computes it in chunks (the
loop runs in between) at most every `rank_interval` seconds, and callers get the last
ranking (workers that arrived since come after the ranked ones; each row's figures are
current, only its place is up to `rank_interval` old).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HASHES_PER_DIFF1 = 2**32  # expected hashes for one share of difficulty 1
SYNC_RANK = 5_000  # rank on the caller's turn up to this many workers
RANK_CHUNK = 2_000  # workers rated per turn of the loop in a background ranking


def account_of(worker: str) -> str:
    """The account a worker name credits: the part before the first '.'."""
    return worker.split(".", 1)[0]


class WorkerRecord:
    """One worker's totals and its windowed credited difficulty."""

    __slots__ = ("accepted", "difficulty_total", "first_share", "last_difficulty",
                 "last_share", "ring", "ring_at", "window_sum", "worker")

    def __init__(self, worker: str, first_share: float, slots: int, at: int) -> None:
        self.worker = worker
        self.first_share = first_share
        self.last_share = first_share
        self.accepted = 0
        self.difficulty_total = 0.0
        self.last_difficulty = 0.0
        self.ring = array("d", bytes(8 * slots))
        self.ring_at = at  # bucket index of the newest slot
        self.window_sum = 0.0


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker: str
    hashrate: float  # H/s over the window
    accepted: int
    difficulty_total: float
    last_difficulty: float
    last_share: float
    first_share: float


def _advance(ring: array, at: int, to: int) -> tuple[int, float]:
    """Move a ring's newest slot from bucket `at` to `to`, zeroing the slots that fall
    out; returns (new newest, difficulty dropped)."""
    if to <= at:
        return at, 0.0
    n = len(ring)
    dropped = 0.0
    if to - at >= n:
        dropped = sum(ring)
        for i in range(n):
            ring[i] = 0.0
    else:
        for b in range(at + 1, to + 1):
            dropped += ring[b % n]
            ring[b % n] = 0.0
    return to, dropped


class WorkerBook:
    def __init__(
        self,
        window_s: float = 600.0,
        *,
        bucket_s: float | None = None,
        forget_s: float | None = None,
        max_workers: int = 100_000,
        rank_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.window_s = window_s
        self.bucket_s = bucket_s if bucket_s is not None else max(window_s / 60.0, 0.5)
        self.forget_s = forget_s if forget_s is not None else 6 * window_s
        self.max_workers = max_workers
        self.rank_interval = rank_interval
        self.clock = clock
        self.slots = math.ceil(window_s / self.bucket_s) + 1
        self._workers: OrderedDict[str, WorkerRecord] = OrderedDict()  # silent longest first
        self._accounts: dict[str, dict[str, None]] = {}
        self._total = array("d", bytes(8 * self.slots))
        self._total_at = 0
        self._total_sum = 0.0
        self._last = array("d", bytes(8 * self.slots))  # workers by their last share's slot
        self._last_at = 0
        self._started: float | None = None
        self._last_prune = 0.0
        self.evicted = 0  # workers dropped to stay within max_workers
        self._ranked: list[str] | None = None
        self._ranked_set: frozenset[str] = frozenset()
        self._ranked_at = float("-inf")
        self._ranking: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._workers)

    def __contains__(self, worker: object) -> bool:
        return worker in self._workers

    def _bucket(self, t: float) -> int:
        return int(t // self.bucket_s)

    # ------------------------------------------------------------------ writing

    def record(self, worker: str, difficulty: float, at: float | None = None) -> None:
        now = self.clock() if at is None else at
        b = self._bucket(now)
        rec = self._workers.get(worker)
        if rec is None:
            if len(self._workers) >= self.max_workers:
                self._drop(next(iter(self._workers)))
                self.evicted += 1
            rec = self._workers[worker] = WorkerRecord(worker, now, self.slots, b)
            self._accounts.setdefault(account_of(worker), {})[worker] = None
            if self._started is None:
                self._started = now
        else:
            self._workers.move_to_end(worker)
            self._unmark_last(rec)
        rec.accepted += 1
        rec.difficulty_total += difficulty
        rec.last_difficulty = difficulty
        rec.last_share = max(rec.last_share, now)
        self._credit(rec, b, difficulty)
        self._mark_last(rec)
        if now - self._last_prune > self.bucket_s:
            self._prune(now)

    def _credit(self, rec: WorkerRecord, b: int, difficulty: float) -> None:
        n = self.slots
        rec.ring_at, dropped = _advance(rec.ring, rec.ring_at, b)
        if dropped:
            rec.window_sum = max(0.0, rec.window_sum - dropped)
        if b > rec.ring_at - n:  # inside the window (a late share may be older)
            rec.ring[b % n] += difficulty
            rec.window_sum += difficulty
        self._total_at, dropped = _advance(self._total, self._total_at, b)
        if dropped:
            self._total_sum = max(0.0, self._total_sum - dropped)
        if b > self._total_at - n:
            self._total[b % n] += difficulty
            self._total_sum += difficulty

    def _mark_last(self, rec: WorkerRecord) -> None:
        b = self._bucket(rec.last_share)
        self._last_at, _ = _advance(self._last, self._last_at, b)
        if b > self._last_at - self.slots:
            self._last[b % self.slots] += 1

    def _unmark_last(self, rec: WorkerRecord) -> None:
        b = self._bucket(rec.last_share)
        if self._last_at - self.slots < b <= self._last_at and self._last[b % self.slots] > 0:
            self._last[b % self.slots] -= 1

    def _drop(self, worker: str) -> None:
        rec = self._workers.pop(worker)
        self._unmark_last(rec)
        account = account_of(worker)
        names = self._accounts.get(account)
        if names is not None:
            names.pop(worker, None)
            if not names:
                del self._accounts[account]

    def _prune(self, now: float) -> None:
        """Forget workers silent for `forget_s` (the oldest are first in the book)."""
        self._last_prune = now
        workers = self._workers
        while workers:
            rec = next(iter(workers.values()))
            if now - rec.last_share <= self.forget_s:
                break
            self._drop(rec.worker)

    # ------------------------------------------------------------------ reading

    def _rate(self, rec: WorkerRecord, now: float) -> float:
        rec.ring_at, dropped = _advance(rec.ring, rec.ring_at, self._bucket(now))
        if dropped:
            rec.window_sum = max(0.0, sum(rec.ring))
        span = min(self.window_s, max(now - rec.first_share, self.bucket_s))
        return rec.window_sum * HASHES_PER_DIFF1 / span

    def _view(self, rec: WorkerRecord, now: float) -> WorkerView:
        return WorkerView(rec.worker, self._rate(rec, now), rec.accepted, rec.difficulty_total,
                          rec.last_difficulty, rec.last_share, rec.first_share)  # fmt: skip

    def view(self, worker: str, now: float | None = None) -> WorkerView | None:
        """One worker, O(1)."""
        rec = self._workers.get(worker)
        return None if rec is None else self._view(rec, self.clock() if now is None else now)

    def account(self, account: str, now: float | None = None) -> list[WorkerView]:
        """The workers of one account, highest hashrate first (O(its workers))."""
        now = self.clock() if now is None else now
        names = self._accounts.get(account, {})
        views = [self._view(self._workers[w], now) for w in names]
        views.sort(key=lambda v: (-v.hashrate, v.worker))
        return views

    def total_hashrate(self, now: float | None = None) -> float:
        """The pool's hashrate: credited difficulty in the window over the window (or the
        time since the first share, when shorter). O(slots)."""
        now = self.clock() if now is None else now
        if self._started is None:
            return 0.0
        self._total_at, dropped = _advance(self._total, self._total_at, self._bucket(now))
        if dropped:
            self._total_sum = max(0.0, sum(self._total))
        span = min(self.window_s, max(now - self._started, self.bucket_s))
        return self._total_sum * HASHES_PER_DIFF1 / span

    def active(self, now: float | None = None) -> int:
        """Workers with an accepted share within the window (to the bucket). O(slots)."""
        now = self.clock() if now is None else now
        self._last_at, _ = _advance(self._last, self._last_at, self._bucket(now))
        return int(sum(self._last))

    def _rank_now(self, now: float) -> list[WorkerView]:
        views = [self._view(r, now) for r in self._workers.values()]
        views.sort(key=lambda v: (-v.hashrate, v.worker))
        return views

    def _start_ranking(self) -> None:
        if self._ranking is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool or a test): rank here and now
            self._ranked = [v.worker for v in self._rank_now(self.clock())]
            self._ranked_set = frozenset(self._ranked)
            self._ranked_at = self.clock()
            return
        self._ranking = loop.create_task(self._rank_in_chunks())

    async def _rank_in_chunks(self) -> None:
        try:
            names = list(self._workers)
            rates = np.empty(len(names))
            for start in range(0, len(names), RANK_CHUNK):
                now = self.clock()
                workers = self._workers
                for i in range(start, min(start + RANK_CHUNK, len(names))):
                    rec = workers.get(names[i])
                    rates[i] = -1.0 if rec is None else self._rate(rec, now)
                await asyncio.sleep(0)
            order = np.argsort(-rates, kind="stable").tolist()
            await asyncio.sleep(0)
            self._ranked = [names[i] for i in order if rates[i] >= 0]
            await asyncio.sleep(0)
            self._ranked_set = frozenset(self._ranked)
            self._ranked_at = self.clock()
        finally:
            self._ranking = None

    def views(self, now: float | None = None, *, offset: int = 0,
              limit: int | None = None) -> list[WorkerView]:
        """Workers, highest hashrate first, from `offset`, at most `limit`: only those
        are rated (see the module's note on large books)."""
        now = self.clock() if now is None else now
        end = None if limit is None else offset + limit
        if len(self._workers) <= SYNC_RANK:
            return self._rank_now(now)[offset:end]
        if now - self._ranked_at > self.rank_interval:
            self._start_ranking()
        ranked = self._ranked or []
        workers = self._workers
        out = [self._view(workers[w], now)
               for w in itertools.islice(ranked, offset, end) if w in workers]
        if end is None or end > len(ranked):  # workers that came after the ranking
            seen = self._ranked_set
            fresh = (w for w in reversed(workers) if w not in seen)
            skip = max(0, offset - len(ranked))
            room = None if end is None else end - max(offset, len(ranked))
            out += [self._view(workers[w], now)
                    for w in itertools.islice(fresh, skip, None if room is None else skip + room)]
        return out

    def top(self, n: int, now: float | None = None) -> list[WorkerView]:
        return self.views(now, limit=n) if n > 0 else []

    async def close(self) -> None:
        """Stop a ranking under way (the pool is shutting down)."""
        task = self._ranking
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
