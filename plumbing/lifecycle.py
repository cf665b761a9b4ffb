"""`async with` for anything that starts and stops: the pool, fleetd, an emulated fleet.

    class Daemon(Service):
        async def start(self) -> None: ...
        async def stop(self) -> None: ...

    async with Daemon() as daemon:   # start(); stop() on the way out, whatever happened
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")


async def cancel(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` (if there is one) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def closed(resource: T | None, close: Callable[[T], Awaitable[object]]) -> T | None:
    """Close `resource` (if there is one) with `close` and return None, so that

        self.runner = await closed(self.runner, web.AppRunner.cleanup)

    closes and forgets it in one step, and a second call does nothing (idempotent shutdown).
    Always None; typed `T | None` so that it can be assigned back to the attribute.
    """
    if resource is not None:
        await close(resource)
    return None


class Service:
    """Runs `start()` on entering `async with` and `stop()` on leaving it."""

    # True where stop() can tidy up after a start() that failed part way (it stops only
    # what exists): then a failed start() is followed by stop() before the error goes on
    stop_after_failed_start = False

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            if self.stop_after_failed_start:
                await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
