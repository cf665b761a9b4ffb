"""Run a fleet: the physics tick and (optionally) every rig's TCP API, in one event loop.

    async with FleetRunner(Fleet.from_file("configs/fleet-demo.toml")) as runner:
        ...   # rigs answer pyasic on 127.1.x.y:4028 and 127.2.x.y:4028

The tick advances every rig to the clock's time and fires the rigs' state-change
callbacks; API requests and commands advance their own rig on the spot, so a reading
never waits for a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from rigsim.fleet import Fleet
from rigsim.luxos_api import RigApiServers


class FleetRunner:
    def __init__(
        self,
        fleet: Fleet,
        *,
        serve_api: bool = True,
        tick_s: float | None = None,
        port: int | None = None,
    ) -> None:
        self.fleet = fleet
        self.tick_s = fleet.config.fleet.tick_s if tick_s is None else tick_s
        self.api = RigApiServers(fleet, port=port) if serve_api else None
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scale = getattr(self.fleet.clock, "scale", 1.0)
        self.fleet.read_staleness_s = self.tick_s * scale
        if self.api is not None:
            try:
                await self.api.start()
            except OSError:
                await self.api.stop()
                raise
        self._task = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while True:
            self.fleet.advance()
            self.ticks += 1
            await asyncio.sleep(self.tick_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.api is not None:
            await self.api.stop()
        self.fleet.read_staleness_s = 0.0

    async def __aenter__(self) -> FleetRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
