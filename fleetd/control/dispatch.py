"""Sending a plan's orders to the rigs: a window of commands in flight, one per rig.

The orders arrive sorted (fleetd.control.book: the biggest sheds first). Up to `width`
commands are in flight at once, each bounded by its driver's own timeout; a slow or
silent rig holds one slot of the window, never the others' commands (there are no
batches that wait for their slowest member). A rig gets one command at a time: an order
for a rig whose last command is still on its way waits for that answer.

A new plan replaces every order not yet sent (`submit`): a cut that arrives while a
fan-out of wakes is under way is not queued behind them. `flush()` sends what is queued
with workers of its own and returns when all is answered (a cycle called by hand);
`run()` keeps workers waiting for the next plan (the daemon).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from fleetd.control.book import Order
from fleetd.drivers import ApplyResult, Driver

Clock = Callable[[], float]


class Dispatcher:
    """The command window of one site."""

    def __init__(
        self,
        drivers: Sequence[Driver],
        width: int,
        *,
        on_send: Callable[[Order], None],
        on_result: Callable[[Order, ApplyResult], None],
        clock: Clock = time.time,
    ) -> None:
        if width < 1:
            raise ValueError(f"command window must be >= 1, got {width}")
        self.drivers = drivers
        self.width = width
        self.on_send = on_send
        self.on_result = on_result
        self.clock = clock
        self._queue: list[Order] = []
        self._pos = 0
        self._deferred: list[Order] = []  # their rig had a command on its way
        self._busy: set[int] = set()
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.answered = 0
        self.replaced = 0  # orders dropped unsent because a newer plan came
        self.last_answer_at = 0.0  # clock time of the latest answer
        self.last_idle_at = 0.0  # clock time the window last emptied after sending

    @property
    def queued(self) -> int:
        return len(self._queue) - self._pos + len(self._deferred)

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    @property
    def idle(self) -> bool:
        return self.queued == 0 and not self._busy

    def submit(self, orders: Sequence[Order]) -> None:
        """The orders of a new plan, in sending order: they replace the unsent ones."""
        self.replaced += self.queued
        self._queue = list(orders)
        self._pos = 0
        self._deferred = []
        if self._queue:
            self._idle.clear()
            self._kick.set()
        elif not self._busy:
            self._idle.set()

    def _take(self) -> Order | None:
        for k, o in enumerate(self._deferred):
            if o.rig not in self._busy:
                return self._deferred.pop(k)
        while self._pos < len(self._queue):
            o = self._queue[self._pos]
            self._pos += 1
            if o.rig in self._busy:
                self._deferred.append(o)
                continue
            return o
        return None

    async def _send(self, o: Order) -> None:
        self._busy.add(o.rig)
        self.sent += 1
        self.on_send(o)
        driver = self.drivers[o.rig]
        try:
            res = await driver.apply(o.target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a driver bug must not stop the other rigs' commands
            res = ApplyResult(driver.host, o.target, False, self.clock(),
                              error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        finally:
            self._busy.discard(o.rig)
        self.answered += 1
        self.last_answer_at = self.clock()
        self.on_result(o, res)
        if self._deferred:
            self._kick.set()  # an order waiting for this rig may go now
        if self.idle:
            self.last_idle_at = self.last_answer_at
            self._idle.set()

    async def _worker(self, persistent: bool) -> None:
        while True:
            o = self._take()
            if o is None:
                if not persistent and not self._deferred:
                    return
                if self.idle:
                    self._idle.set()
                self._kick.clear()
                await self._kick.wait()
                continue
            await self._send(o)

    async def flush(self) -> None:
        """Send everything queued with workers of this call; return once all answered."""
        n = min(self.width, self.queued)
        if n:
            await asyncio.gather(*(self._worker(False) for _ in range(n)))
        await self._idle.wait()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def run(self) -> None:
        """Workers that send each plan's orders as they come, until cancelled."""
        workers = [asyncio.ensure_future(self._worker(True)) for _ in range(self.width)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
