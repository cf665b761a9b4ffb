"""Fan-out over thousands of rigs: bounded concurrency, per-call timeouts, batches.

Reads go out all at once, `concurrency` rigs in flight at a time (a socket per rig in
flight), with an optional overall deadline after which rigs still silent are reported
unknown. Commands go out in batches, one batch after the other, in the order
given: the planner lists the worst J/TH first, so under a cut the rigs that matter most
are shed first and a slow batch never holds a later one's rigs awake longer than needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from fleetd.drivers.base import ApplyResult, Driver, RigReading, Target

OnResult = Callable[[ApplyResult], Awaitable[None] | None]


class Fanout:
    """Bounded fan-out. Each call runs at most `concurrency` workers that take rigs in the
    order given (one task per worker, not per rig: thousands of tasks queued on a semaphore
    cost a scan of its waiters on every acquire); the shared semaphore still bounds the
    sockets of fan-outs that overlap (a read cycle and an operator's command)."""

    def __init__(self, concurrency: int = 256, clock: Callable[[], float] = time.time) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.clock = clock
        self._sem = asyncio.Semaphore(concurrency)

    async def read_all(
        self, drivers: Sequence[Driver], deadline_s: float | None = None
    ) -> list[RigReading]:
        """Every rig's reading, in the order given; rigs silent at the deadline are
        reported unknown (their reads are cancelled)."""
        n = len(drivers)
        if not n:
            return []
        out: list[RigReading | None] = [None] * n
        todo = iter(range(n))
        sem = self._sem

        async def worker() -> None:
            for i in todo:
                d = drivers[i]
                async with sem:
                    try:
                        out[i] = await d.read()
                    except Exception as exc:  # a driver bug: that rig is unknown, not all
                        out[i] = RigReading.unknown(d.host, f"{type(exc).__name__}: {exc}",
                                                    self.clock())  # fmt: skip

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, n))]
        _done, pending = await asyncio.wait(workers, timeout=deadline_s)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        now = self.clock()
        return [
            r if r is not None else RigReading.unknown(
                d.host, f"no reading within {deadline_s:g} s", now
            )
            for d, r in zip(drivers, out, strict=True)
        ]  # fmt: skip

    async def _apply(self, driver: Driver, target: Target) -> ApplyResult:
        async with self._sem:
            try:
                return await driver.apply(target)
            except Exception as exc:  # a driver bug must not stop the other rigs' commands
                return ApplyResult(driver.host, target, False, self.clock(),
                                   error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    async def apply_all(
        self,
        jobs: Sequence[tuple[Driver, Target]],
        *,
        batch_size: int | None = None,
        on_result: OnResult | None = None,
    ) -> list[ApplyResult]:
        """Send each (driver, target), in batches of `batch_size` (all at once if None);
        `on_result` sees every outcome as it arrives (the audit log)."""
        size = batch_size if batch_size else len(jobs)
        if size < 1:
            return []
        out: list[ApplyResult | None] = [None] * len(jobs)
        for start in range(0, len(jobs), size):
            todo = iter(range(start, min(start + size, len(jobs))))

            async def worker(todo: Iterator[int] = todo) -> None:
                for k in todo:
                    d, t = jobs[k]
                    res = out[k] = await self._apply(d, t)
                    if on_result is not None:
                        maybe = on_result(res)
                        if maybe is not None:
                            await maybe

            width = min(self.concurrency, size, len(jobs) - start)
            await asyncio.gather(*(worker() for _ in range(width)))
        return [r for r in out if r is not None]
