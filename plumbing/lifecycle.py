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
from typing import Any, Self


async def cancel(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` (if there is one) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Service:
    """Runs `start()` on entering `async with` and `stop()` on leaving it."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
