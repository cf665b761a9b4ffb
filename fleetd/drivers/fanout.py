"""Fan-out over thousands of rigs: bounded concurrency, per-call timeouts, batches.

Reads go out all at once under a semaphore (a socket per rig in flight, no more than
`concurrency`), with an optional overall deadline after which rigs still silent are
reported unknown. Commands go out in batches, one batch after the other, in the order
given: the planner lists the worst J/TH first, so under a cut the rigs that matter most
are shed first and a slow batch never holds a later one's rigs awake longer than needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from fleetd.drivers.base import ApplyResult, Driver, RigReading, Target

OnResult = Callable[[ApplyResult], Awaitable[None] | None]


class Fanout:
    def __init__(self, concurrency: int = 256, clock: Callable[[], float] = time.time) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.clock = clock
        self._sem = asyncio.Semaphore(concurrency)

    async def _read(self, driver: Driver) -> RigReading:
        async with self._sem:
            return await driver.read()

    async def read_all(
        self, drivers: Sequence[Driver], deadline_s: float | None = None
    ) -> list[RigReading]:
        """Every rig's reading, in the order given; rigs silent at the deadline are
        reported unknown (their reads are cancelled)."""
        tasks = [asyncio.ensure_future(self._read(d)) for d in drivers]
        if not tasks:
            return []
        _done, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        now = self.clock()
        out = []
        for d, t in zip(drivers, tasks, strict=True):
            if t.cancelled():
                out.append(RigReading.unknown(d.host, f"no reading within {deadline_s:g} s", now))
            elif t.exception() is not None:
                exc = t.exception()
                out.append(RigReading.unknown(d.host, f"{type(exc).__name__}: {exc}", now))
            else:
                out.append(t.result())
        return out

    async def _apply(
        self, driver: Driver, target: Target, on_result: OnResult | None
    ) -> ApplyResult:
        async with self._sem:
            try:
                result = await driver.apply(target)
            except Exception as exc:  # a driver bug must not stop the other rigs' commands
                result = ApplyResult(driver.host, target, False, self.clock(),
                                     error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        if on_result is not None:
            maybe = on_result(result)
            if maybe is not None:
                await maybe
        return result

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
        out: list[ApplyResult] = []
        for start in range(0, len(jobs), size):
            batch = jobs[start : start + size]
            out += await asyncio.gather(*(self._apply(d, t, on_result) for d, t in batch))
        return out
