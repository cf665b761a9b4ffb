"""Rejected shares per worker and Stratum error code, for the miners' page.

A miner whose rig sends stale or low-difficulty shares needs to see which of their
workers does it and why. Only names a connection has authorized are counted (an
unauthorized name is not anybody's worker), so the book grows with real workers only,
and it is bounded like the worker book: at most `max_workers` names (the one whose last
reject is oldest goes first) and a name with no reject for `forget_s` is forgotten.
Each reject is a dict lookup and an increment; the server calls `reject` on its loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RejectBook:
    def __init__(
        self, max_workers: int = 100_000, forget_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_workers = max_workers
        self.forget_s = forget_s
        self.clock = clock
        # worker -> [last reject time, {code: count}], oldest reject first
        self._book: OrderedDict[str, tuple[list[float], dict[int, int]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._book)

    def reject(self, worker: str, code: int) -> None:
        now = self.clock()
        entry = self._book.get(worker)
        if entry is None:
            if len(self._book) >= self.max_workers:
                self._book.popitem(last=False)
            entry = self._book[worker] = ([now], {})
        else:
            self._book.move_to_end(worker)
            entry[0][0] = now
        counts = entry[1]
        counts[code] = counts.get(code, 0) + 1
        self._prune(now)

    def _prune(self, now: float) -> None:
        book = self._book
        while book:
            entry = next(iter(book.values()))
            if now - entry[0][0] <= self.forget_s:
                return
            book.popitem(last=False)

    def counts(self, worker: str) -> dict[int, int]:
        """{Stratum error code: rejected shares} of one worker (empty when none)."""
        entry = self._book.get(worker)
        return {} if entry is None else dict(entry[1])
