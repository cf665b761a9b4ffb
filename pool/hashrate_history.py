"""Hashrate history for the miners' page: the pool's and each account's, over 1 h, 24 h
and 7 d, in memory and bounded.

Three series of time buckets, each a ring: 1 h in 60 one-minute buckets, 24 h in 96
quarter hours, 7 d in 84 two-hour buckets (240 numbers a series set). The pool has one
set; each account one more, as a row of float32 arrays (960 bytes an account), for at
most `max_accounts` accounts: when a new one arrives the account silent longest goes,
and an account silent for 7 days is dropped. 10,000 accounts take about 10 MB.

Why memory and not the ledger: the figures are estimates for a chart, not accounting
(every share is in the ledger for that); writing buckets for every account to the
share database every minute would add write load where shares must commit fast, and a
restart loses at most the chart's past, not a satoshi. In a cluster each process keeps
its own history: bucket boundaries are absolute (multiples of the bucket length since
the epoch), so the processes' series add up bucket by bucket.

The hot path is one dict update a share: shares are summed per account for the current
minute, and folded into the rings (numpy, all accounts of that minute at once) when the
minute turns or someone reads.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HASHES_PER_DIFF1 = 2**32
WEEK_S = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    bucket_s: float
    buckets: int


SERIES: dict[str, Series] = {
    s.name: s for s in (Series("1h", 60.0, 60), Series("24h", 900.0, 96), Series("7d", 7200.0, 84))
}
FINEST = SERIES["1h"]
MIN_COVER_S = 5.0  # a bucket measured for less than this (or 5 % of it) has no rate yet


def _advance_rows(ring: np.ndarray, at: np.ndarray, rows: np.ndarray, to: int) -> None:
    """Move the rings of `rows` so their newest bucket is `to`, zeroing the buckets that
    fall out of the window (vectorised over the rows)."""
    n = ring.shape[1]
    newest = at[rows]
    moving = newest < to
    if not moving.any():
        return
    rows = rows[moving]
    newest = newest[moving]
    slots = np.arange(n)
    bucket_of_slot = newest[:, None] - ((newest[:, None] - slots[None, :]) % n)
    stale = bucket_of_slot <= to - n
    block = ring[rows]
    block[stale] = 0.0
    ring[rows] = block
    at[rows] = to


class _Rings:
    """One series for many rows: a (rows, buckets) float array and each row's newest bucket."""

    def __init__(self, series: Series, rows: int, dtype: type) -> None:
        self.series = series
        self.ring: np.ndarray = np.zeros((rows, series.buckets), dtype=dtype)
        self.at: np.ndarray = np.zeros(rows, dtype=np.int64)

    def grow(self, rows: int) -> None:
        old = self.ring.shape[0]
        ring = np.zeros((rows, self.series.buckets), dtype=self.ring.dtype)
        ring[:old] = self.ring
        at = np.zeros(rows, dtype=np.int64)
        at[:old] = self.at
        self.ring, self.at = ring, at

    def clear(self, row: int, t: float) -> None:
        self.ring[row] = 0.0
        self.at[row] = int(t // self.series.bucket_s)

    def add(self, rows: np.ndarray, values: np.ndarray, t: float) -> None:
        b = int(t // self.series.bucket_s)
        _advance_rows(self.ring, self.at, rows, b)
        self.ring[rows, b % self.series.buckets] += values

    def read(self, row: int, now: float) -> tuple[int, np.ndarray]:
        """(newest bucket index, the row's buckets oldest first)."""
        b = int(now // self.series.bucket_s)
        _advance_rows(self.ring, self.at, np.array([row]), b)
        n = self.series.buckets
        values = self.ring[row]
        return b, np.roll(values, -((b + 1) % n))


class HashrateHistory:
    """The pool's and the accounts' hashrate over time; see the module's note."""

    def __init__(
        self, max_accounts: int = 10_000, *, clock: Callable[[], float] = time.time,
    ) -> None:
        if max_accounts < 1:
            raise ValueError(f"max_accounts must be >= 1, got {max_accounts}")
        self.max_accounts = max_accounts
        self.clock = clock
        self._slot: OrderedDict[str, int] = OrderedDict()  # account -> row, silent longest first
        self._free: list[int] = []
        self._rows = 0
        capacity = min(max_accounts, 64)
        self._rings = {name: _Rings(s, capacity, np.float32) for name, s in SERIES.items()}
        self._since = np.zeros(capacity)  # first share of the account (epoch s)
        self._last = np.zeros(capacity)  # end of its last bucket with a share
        self._pool = {name: _Rings(s, 1, np.float64) for name, s in SERIES.items()}
        self._pool_since: float | None = None
        self._pending: dict[str, float] = {}
        self._pending_first: dict[str, float] = {}  # first share of the minute, per account
        self._pool_first: float | None = None  # the first share of all
        self._pending_total = 0.0
        self._pending_bucket: int | None = None
        self.evicted = 0

    def __len__(self) -> int:
        self._fold()
        return len(self._slot)

    def __contains__(self, account: object) -> bool:
        return account in self._slot or account in self._pending

    # ------------------------------------------------------------------ writing

    def add(self, account: str, difficulty: float, at: float) -> None:
        """One accepted share (the hot path: a dict update, and a fold once a minute)."""
        b = int(at // FINEST.bucket_s)
        if b != self._pending_bucket and (self._pending_bucket is None or b > self._pending_bucket):
            self._fold()
            self._pending_bucket = b
        # (a share judged a moment before the minute turned counts in the new minute)
        pending = self._pending
        total = pending.get(account)
        if total is None:
            pending[account] = difficulty
            self._pending_first[account] = at  # a new account's chart starts here
        else:
            pending[account] = total + difficulty
        self._pending_total += difficulty
        if self._pool_first is None:
            self._pool_first = at

    def _row(self, account: str, t: float) -> int:
        row = self._slot.get(account)
        if row is not None:
            self._slot.move_to_end(account)
            return row
        if len(self._slot) >= self.max_accounts:
            _, old = self._slot.popitem(last=False)
            self._free.append(old)
            self.evicted += 1
        if self._free:
            row = self._free.pop()
        else:
            row = self._rows
            self._rows += 1
            capacity = self._since.shape[0]
            if row >= capacity:
                grown = min(self.max_accounts, capacity * 2)
                for rings in self._rings.values():
                    rings.grow(grown)
                self._since = np.concatenate([self._since, np.zeros(grown - capacity)])
                self._last = np.concatenate([self._last, np.zeros(grown - capacity)])
        for rings in self._rings.values():
            rings.clear(row, t)
        self._since[row] = t
        self._slot[account] = row
        return row

    def _fold(self) -> None:
        """Put the pending minute into the rings (all its accounts at once)."""
        if self._pending_bucket is None or not self._pending:
            self._pending.clear()
            self._pending_first.clear()
            self._pending_total = 0.0
            return
        start = self._pending_bucket * FINEST.bucket_s
        t = start + FINEST.bucket_s / 2  # the minute's middle: inside its bucket of every series
        end = start + FINEST.bucket_s
        first = self._pending_first
        rows = np.array([self._row(a, first.get(a, start)) for a in self._pending],
                        dtype=np.int64)
        values = np.fromiter(self._pending.values(), dtype=np.float64, count=len(rows))
        for rings in self._rings.values():
            rings.add(rows, values.astype(np.float32), t)
        self._last[rows] = end
        if self._pool_since is None:
            self._pool_since = start if self._pool_first is None else self._pool_first
        total = np.array([self._pending_total])
        for rings in self._pool.values():
            rings.add(np.array([0]), total, t)
        self._pending = {}
        self._pending_first = {}
        self._pending_total = 0.0
        self._prune(end)

    def _prune(self, now: float) -> None:
        """Drop accounts silent for a week (their buckets are all out of every series)."""
        slot = self._slot
        while slot:
            account, row = next(iter(slot.items()))
            if now - self._last[row] <= WEEK_S:
                break
            del slot[account]
            self._free.append(row)

    # ------------------------------------------------------------------ reading

    def _points(
        self, rings: _Rings, row: int, since: float | None, now: float
    ) -> list[tuple[float, float | None]]:
        s = rings.series
        newest, values = rings.read(row, now)
        points: list[tuple[float, float | None]] = []
        first = newest - s.buckets + 1
        for k, value in enumerate(values.tolist()):
            start = (first + k) * s.bucket_s
            cover = min(start + s.bucket_s, now) - max(start, since if since is not None else now)
            if cover < min(MIN_COVER_S, 0.05 * s.bucket_s):
                points.append((start, None))
            else:
                points.append((start, value * HASHES_PER_DIFF1 / cover))
        return points

    def series(
        self, name: str, account: str | None = None, now: float | None = None
    ) -> list[tuple[float, float | None]] | None:
        """[(bucket start, H/s or None where nothing was measured yet)], oldest first, of
        the pool (account None) or one account; None for an account it does not hold."""
        now = self.clock() if now is None else now
        self._fold()  # the minute in progress counts (its bucket keeps filling after)
        if account is None:
            return self._points(self._pool[name], 0, self._pool_since, now)
        row = self._slot.get(account)
        if row is None:
            return None
        return self._points(self._rings[name], row, float(self._since[row]), now)

    def active_accounts(self, window_s: float, now: float | None = None) -> int:
        """Accounts with an accepted share within `window_s` (to the minute)."""
        now = self.clock() if now is None else now
        self._fold()
        rows = np.fromiter(self._slot.values(), dtype=np.int64, count=len(self._slot))
        return int(np.count_nonzero(self._last[rows] > now - window_s))

    def active_account_names(self, window_s: float, now: float | None = None) -> list[str]:
        """The accounts `active_accounts` counts, by name (for a cluster's merged count)."""
        now = self.clock() if now is None else now
        self._fold()
        since = now - window_s
        return [a for a, row in self._slot.items() if self._last[row] > since]
