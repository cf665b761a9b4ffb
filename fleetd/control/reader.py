"""Reading a site's rigs into its book: a round every control period, each reading taken
the moment it arrives.

A round asks every rig that is not still answering an earlier round (`concurrency` at a
time); a slow or silent rig is bounded by its driver's own timeout and holds only its own
read. Nothing waits for a whole round: the plan works from the book as it stands, so the
rigs that answer in milliseconds are never held back by the ones that take seconds.
`round(deadline_s)` with a deadline is the one-off read of a cycle called by hand: rigs
still silent then count as unknown (their reads are cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import numpy as np

from fleetd.control.book import RigBook
from fleetd.drivers import Driver, RigReading

Clock = Callable[[], float]


class Reader:
    def __init__(
        self,
        drivers: Sequence[Driver],
        book: RigBook,
        concurrency: int,
        clock: Clock = time.time,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.drivers = drivers
        self.book = book
        self.concurrency = concurrency
        self.clock = clock
        self.reading = np.zeros(len(drivers), dtype=bool)  # a read of this rig is on its way
        self.arrived = asyncio.Event()  # set with every reading taken into the book
        self.readings = 0
        self.rounds = 0
        self.last_round_s = 0.0
        self._rounds: set[asyncio.Task[float]] = set()

    def _take(self, r: RigReading) -> None:
        self.book.observe([r])
        self.readings += 1
        self.arrived.set()

    async def round(self, deadline_s: float | None = None) -> float:
        """Read every rig not already being read; returns how long the round took."""
        started = time.monotonic()
        todo = np.flatnonzero(~self.reading).tolist()
        if not todo:
            return 0.0
        self.reading[todo] = True
        it = iter(todo)
        drivers = self.drivers
        answered: set[int] = set()

        async def worker() -> None:
            for i in it:
                d = drivers[i]
                try:
                    r = await d.read()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a driver bug: that rig is unknown, not all
                    r = RigReading.unknown(d.host, f"{type(exc).__name__}: {exc}", self.clock())
                finally:
                    self.reading[i] = False
                answered.add(i)
                self._take(r)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(todo)))]
        try:
            await asyncio.wait(workers, timeout=deadline_s)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for i in it:  # never asked (their worker was cancelled): not on their way
                self.reading[i] = False
        if len(answered) < len(todo):  # the deadline passed: the silent ones are unknown
            now = self.clock()
            for i in todo:
                if i not in answered:
                    self._take(RigReading.unknown(drivers[i].host,
                                                  f"no reading within {deadline_s:g} s", now))
        self.rounds += 1
        self.last_round_s = time.monotonic() - started
        return self.last_round_s

    def read_once(self) -> bool:
        """Every rig has answered at least once (well or not)."""
        return bool(self.book.read_once().all())

    async def run(self, period_s: float) -> None:
        """A round every `period_s` until cancelled; rounds overlap when rigs are slow."""
        try:
            while True:
                started = time.monotonic()
                task = asyncio.ensure_future(self.round())
                self._rounds.add(task)
                task.add_done_callback(self._rounds.discard)
                await asyncio.sleep(max(0.0, period_s - (time.monotonic() - started)))
        finally:
            for t in list(self._rounds):
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._rounds, return_exceptions=True)
