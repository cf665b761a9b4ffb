"""Reading thousands of rigs: bounded concurrency, per-call timeouts, an optional deadline.

Reads go out all at once, `concurrency` rigs in flight at a time (a socket per rig in
flight); `on_reading` sees each reading the moment it arrives, so a caller never waits
for the slowest rig to use the others' figures. With an overall deadline, rigs still
silent then are reported unknown (their reads are cancelled). Commands are sent by the
controller's dispatcher (fleetd.control.dispatch): a window of commands in flight, one
per rig, the biggest sheds first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from fleetd.drivers.base import Driver, RigReading

OnReading = Callable[[int, RigReading], None]


class Fanout:
    """Bounded read fan-out. Each call runs at most `concurrency` workers that take rigs in
    the order given (one task per worker, not per rig: thousands of tasks queued on a
    semaphore cost a scan of its waiters on every acquire)."""

    def __init__(self, concurrency: int = 256, clock: Callable[[], float] = time.time) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.clock = clock

    async def read_all(
        self,
        drivers: Sequence[Driver],
        deadline_s: float | None = None,
        *,
        indices: Sequence[int] | None = None,
        on_reading: OnReading | None = None,
    ) -> list[RigReading]:
        """The readings of `drivers[i]` for each i of `indices` (default: all), in that
        order; `on_reading(i, reading)` is called as each arrives, including the unknown
        readings of the rigs still silent at the deadline."""
        todo = list(range(len(drivers))) if indices is None else list(indices)
        if not todo:
            return []
        out: dict[int, RigReading] = {}
        it = iter(todo)

        def take(i: int, r: RigReading) -> None:
            out[i] = r
            if on_reading is not None:
                on_reading(i, r)

        async def worker() -> None:
            for i in it:
                d = drivers[i]
                try:
                    r = await d.read()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a driver bug: that rig is unknown, not all
                    r = RigReading.unknown(d.host, f"{type(exc).__name__}: {exc}",
                                           self.clock())  # fmt: skip
                take(i, r)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(todo)))]
        try:
            await asyncio.wait(workers, timeout=deadline_s)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if len(out) < len(todo):  # the deadline passed: the silent ones are unknown
            now = self.clock()
            for i in todo:
                if i not in out:
                    take(i, RigReading.unknown(drivers[i].host,
                                               f"no reading within {deadline_s:g} s", now))
        return [out[i] for i in todo]
