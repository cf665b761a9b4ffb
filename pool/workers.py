"""The worker book: accepted shares per worker, kept incrementally for the hashrate
estimate, the metrics and the stats API.

Every figure a scrape or an API call needs is kept as shares arrive, so reading it never
walks the whole book on the event loop (share answers wait behind anything that does):

- per worker: totals, and the credited difficulty of the last `window_s` seconds in a
  ring of `bucket_s` slots (a fixed row of floats, whatever the share rate) with its
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
import itertools
import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from plumbing.lifecycle import cancel

HASHES_PER_DIFF1 = 2**32  # expected hashes for one share of difficulty 1
SYNC_RANK = 5_000  # rank on the caller's turn up to this many workers
RANK_CHUNK = 500  # workers rated per turn of the loop in a background ranking (~3 ms)


def account_of(worker: str) -> str:
    """The account a worker name credits: the part before the first '.'."""
    return worker.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker: str
    hashrate: float  # H/s over the window
    accepted: int
    difficulty_total: float
    last_difficulty: float
    last_share: float
    first_share: float
    best: float = 0.0  # the highest difficulty a share of its hash reached


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
    """The book, stored by column: one slot per worker in flat arrays of numbers (its
    window ring a row of one flat array), names mapped to slots by a dict of strings and
    ints. No Python object per worker, so a full garbage collection does not walk a
    hundred thousand of them while miners wait for their answers."""

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
        self._slot: OrderedDict[str, int] = OrderedDict()  # worker -> slot, silent longest first
        self._free: list[int] = []
        self._accepted = array("q")
        self._ring_at = array("q")  # bucket index of each worker's newest ring slot
        self._total_diff = array("d")
        self._last_diff = array("d")
        self._first = array("d")
        self._last = array("d")
        self._window = array("d")  # the ring's running sum
        self._best = array("d")  # the best share's own difficulty (diff1 / its hash)
        self._ring = array("d")  # `slots` floats per worker, row after row
        self._accounts: dict[str, dict[str, None]] = {}
        self._total = array("d", bytes(8 * self.slots))
        self._total_at = 0
        self._total_sum = 0.0
        self._lasts = array("d", bytes(8 * self.slots))  # workers by their last share's slot
        self._lasts_at = 0
        self._started: float | None = None
        self._last_prune = 0.0
        self.evicted = 0  # workers dropped to stay within max_workers
        self._ranked: list[str] | None = None
        # A ranking holds the workers that existed when it began: each slot notes the count
        # of rankings begun before its worker arrived; it is in the ranking in use when
        # that count is below the ranking's own.
        self._begun = 0
        self._ranked_from = 0
        self._born = array("q")
        self._ranked_at = float("-inf")
        self._ranking: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, worker: object) -> bool:
        return worker in self._slot

    def _bucket(self, t: float) -> int:
        return int(t // self.bucket_s)

    # ------------------------------------------------------------------ writing

    def _new_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._accepted)
        self._accepted.append(0)
        self._ring_at.append(0)
        self._born.append(0)
        for column in (self._total_diff, self._last_diff, self._first, self._last,
                       self._window, self._best):
            column.append(0.0)
        self._ring.frombytes(bytes(8 * self.slots))
        return slot

    def record(
        self, worker: str, difficulty: float, at: float | None = None, best: float = 0.0
    ) -> None:
        """One accepted share credited `difficulty`; `best` is what its hash reached."""
        now = self.clock() if at is None else at
        b = self._bucket(now)
        i = self._slot.get(worker)
        if i is None:
            if len(self._slot) >= self.max_workers:
                self._drop(next(iter(self._slot)))
                self.evicted += 1
            i = self._slot[worker] = self._new_slot()
            self._born[i] = self._begun
            self._accepted[i] = 0
            self._total_diff[i] = 0.0
            self._first[i] = self._last[i] = now
            self._window[i] = 0.0
            self._best[i] = 0.0
            self._ring_at[i] = b
            base = i * self.slots
            self._ring[base:base + self.slots] = array("d", bytes(8 * self.slots))
            self._accounts.setdefault(account_of(worker), {})[worker] = None
            if self._started is None:
                self._started = now
        else:
            self._slot.move_to_end(worker)
            self._unmark_last(i)
        self._accepted[i] += 1
        self._total_diff[i] += difficulty
        self._last_diff[i] = difficulty
        if best > self._best[i]:
            self._best[i] = best
        if now > self._last[i]:
            self._last[i] = now
        self._credit(i, b, difficulty)
        self._mark_last(i)
        if now - self._last_prune > self.bucket_s:
            self._prune(now)

    def _advance_worker(self, i: int, to: int) -> None:
        """Move worker `i`'s ring to bucket `to`, keeping its running sum exact."""
        at = self._ring_at[i]
        if to <= at:
            return
        n = self.slots
        base = i * n
        ring = self._ring
        if to - at >= n:
            ring[base:base + n] = array("d", bytes(8 * n))
            self._window[i] = 0.0
        else:
            for k in range(at + 1, to + 1):
                ring[base + k % n] = 0.0
            self._window[i] = max(0.0, sum(ring[base:base + n]))
        self._ring_at[i] = to

    def _credit(self, i: int, b: int, difficulty: float) -> None:
        n = self.slots
        self._advance_worker(i, b)
        if b > self._ring_at[i] - n:  # inside the window (a late share may be older)
            self._ring[i * n + b % n] += difficulty
            self._window[i] += difficulty
        self._total_at, dropped = _advance(self._total, self._total_at, b)
        if dropped:
            self._total_sum = max(0.0, sum(self._total))
        if b > self._total_at - n:
            self._total[b % n] += difficulty
            self._total_sum += difficulty

    def _mark_last(self, i: int) -> None:
        b = self._bucket(self._last[i])
        self._lasts_at, _ = _advance(self._lasts, self._lasts_at, b)
        if b > self._lasts_at - self.slots:
            self._lasts[b % self.slots] += 1

    def _unmark_last(self, i: int) -> None:
        b = self._bucket(self._last[i])
        n = self.slots
        if self._lasts_at - n < b <= self._lasts_at and self._lasts[b % n] > 0:
            self._lasts[b % n] -= 1

    def _drop(self, worker: str) -> None:
        i = self._slot.pop(worker)
        self._unmark_last(i)
        self._free.append(i)
        account = account_of(worker)
        names = self._accounts.get(account)
        if names is not None:
            names.pop(worker, None)
            if not names:
                del self._accounts[account]

    def _prune(self, now: float) -> None:
        """Forget workers silent for `forget_s` (the oldest are first in the book)."""
        self._last_prune = now
        slot = self._slot
        while slot:
            worker, i = next(iter(slot.items()))
            if now - self._last[i] <= self.forget_s:
                break
            self._drop(worker)

    # ------------------------------------------------------------------ reading

    def _rate(self, i: int, now: float) -> float:
        self._advance_worker(i, self._bucket(now))
        span = min(self.window_s, max(now - self._first[i], self.bucket_s))
        return self._window[i] * HASHES_PER_DIFF1 / span

    def _view(self, worker: str, now: float) -> WorkerView:
        i = self._slot[worker]
        return WorkerView(worker, self._rate(i, now), self._accepted[i], self._total_diff[i],
                          self._last_diff[i], self._last[i], self._first[i],
                          self._best[i])  # fmt: skip

    def view(self, worker: str, now: float | None = None) -> WorkerView | None:
        """One worker, O(1)."""
        if worker not in self._slot:
            return None
        return self._view(worker, self.clock() if now is None else now)

    def account(self, account: str, now: float | None = None) -> list[WorkerView]:
        """The workers of one account, highest hashrate first (O(its workers))."""
        now = self.clock() if now is None else now
        views = [self._view(w, now) for w in self._accounts.get(account, {})]
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
        self._lasts_at, _ = _advance(self._lasts, self._lasts_at, self._bucket(now))
        return int(sum(self._lasts))

    def active_names(self, now: float | None = None) -> list[str]:
        """The workers `active` counts, by name (for a cluster's merged count). O(workers)."""
        oldest = self._bucket(self.clock() if now is None else now) - self.slots
        return [w for w, i in self._slot.items() if self._bucket(self._last[i]) > oldest]

    def _rank_now(self, now: float) -> list[WorkerView]:
        views = [self._view(w, now) for w in self._slot]
        views.sort(key=lambda v: (-v.hashrate, v.worker))
        return views

    def _start_ranking(self) -> None:
        if self._ranking is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool or a test): rank here and now
            steps = self._rank_steps()
            while next(steps, True) is None:
                pass
            return
        self._ranking = loop.create_task(self._rank_in_chunks())

    async def _rank_in_chunks(self) -> None:
        try:
            for _ in self._rank_steps():
                await asyncio.sleep(0)  # the loop answers miners between two steps
        finally:
            self._ranking = None

    def _rank_steps(self) -> Iterator[None]:
        """Rank every worker by hashrate, yielding between steps of a few milliseconds."""
        self._begun += 1
        begun = self._begun
        names = list(self._slot)
        rates = np.empty(len(names))
        for start in range(0, len(names), RANK_CHUNK):
            now = self.clock()
            slot = self._slot
            for k in range(start, min(start + RANK_CHUNK, len(names))):
                i = slot.get(names[k])
                rates[k] = -1.0 if i is None else self._rate(i, now)
            yield None
        order = np.argsort(-rates)
        order = order[rates[order] >= 0].tolist()
        yield None
        ranked: list[str] = []
        for start in range(0, len(order), RANK_CHUNK * 20):
            ranked += [names[k] for k in order[start:start + RANK_CHUNK * 20]]
            yield None
        self._ranked = ranked
        self._ranked_from = begun
        self._ranked_at = self.clock()

    def views(self, now: float | None = None, *, offset: int = 0,
              limit: int | None = None) -> list[WorkerView]:
        """Workers, highest hashrate first, from `offset`, at most `limit`: only those
        are rated (see the module's note on large books)."""
        now = self.clock() if now is None else now
        end = None if limit is None else offset + limit
        if len(self._slot) <= SYNC_RANK:
            return self._rank_now(now)[offset:end]
        if now - self._ranked_at > self.rank_interval:
            self._start_ranking()
        ranked = self._ranked or []
        slot = self._slot
        out = [self._view(w, now) for w in itertools.islice(ranked, offset, end) if w in slot]
        if end is None or end > len(ranked):  # workers that came after the ranking
            begun, born = self._ranked_from, self._born
            fresh = (w for w, i in reversed(slot.items()) if born[i] >= begun)
            skip = max(0, offset - len(ranked))
            room = None if end is None else end - max(offset, len(ranked))
            out += [self._view(w, now)
                    for w in itertools.islice(fresh, skip, None if room is None else skip + room)]
        return out

    def top(self, n: int, now: float | None = None) -> list[WorkerView]:
        return self.views(now, limit=n) if n > 0 else []

    async def close(self) -> None:
        """Stop a ranking under way (the pool is shutting down)."""
        await cancel(self._ranking)
