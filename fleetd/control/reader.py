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
from fleetd.drivers import Driver, Fanout, RigReading

Clock = Callable[[], float]


class Reader:
    def __init__(
        self,
        drivers: Sequence[Driver],
        book: RigBook,
        concurrency: int,
        clock: Clock = time.time,
    ) -> None:
        self.drivers = drivers
        self.book = book
        self.fanout = Fanout(concurrency, clock=clock)
        self.reading = np.zeros(len(drivers), dtype=bool)  # a read of this rig is on its way
        self.arrived = asyncio.Event()  # set with every reading taken into the book
        self.readings = 0
        self.rounds = 0
        self.last_round_s = 0.0
        self._rounds: set[asyncio.Task[float]] = set()

    def _take(self, i: int, r: RigReading) -> None:
        self.reading[i] = False
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
        taken: set[int] = set()

        def take(i: int, r: RigReading) -> None:
            taken.add(i)
            self._take(i, r)

        try:
            await self.fanout.read_all(self.drivers, deadline_s, indices=todo,
                                       on_reading=take)  # fmt: skip
        finally:  # cancelled: the reads of this round not answered are not on their way
            for i in todo:
                if i not in taken:
                    self.reading[i] = False
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
