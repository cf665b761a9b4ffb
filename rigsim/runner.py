"""Run a fleet: the physics tick and (optionally) every rig's APIs, in one event loop.

    async with FleetRunner(Fleet.from_file("configs/fleet-demo.toml")) as runner:
        ...   # rigs answer pyasic on 127.1.x.y:4028 and 127.2.x.y:4028

Each rig serves its firmware family's APIs (rigsim.firmware): the cgminer-style API on
4028 for every rig, plus the gRPC API (Braiins OS, 50051), the web interface (stock
Antminer, 80) or API v3 (newer Whatsminers, 4433). The tick advances every rig to the
clock's time, fires the rigs' state-change callbacks and reopens listeners whose outage
(a restarting mining process, a rebooting control board) has passed; API requests and
commands advance their own rig on the spot, so a reading never waits for a tick.
"""

from __future__ import annotations

import asyncio

from plumbing.lifecycle import Service, cancel
from rigsim.fleet import Fleet
from rigsim.listeners import RigListeners
from rigsim.rig import ANTMINER, BRAIINS
from rigsim.tcp_api import RigApiServers


class FleetRunner(Service):
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
        families = {r.firmware for r in fleet.rigs} if serve_api else set()
        self.grpc: RigListeners | None = None
        self.web: RigListeners | None = None
        if BRAIINS in families:  # imported only when needed: grpclib and pyasic's protos
            from rigsim.braiins_grpc import BraiinsGrpcServers

            self.grpc = BraiinsGrpcServers(fleet)
        if ANTMINER in families:
            from rigsim.web_api import AntminerWebServers

            self.web = AntminerWebServers(fleet)
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> list[RigListeners]:
        return [s for s in (self.api, self.grpc, self.web) if s is not None]

    async def start(self) -> None:
        scale = getattr(self.fleet.clock, "scale", 1.0)
        self.fleet.read_staleness_s = self.tick_s * scale
        try:
            for servers in self.listeners:
                await servers.start()
        except OSError:
            for servers in self.listeners:
                await servers.stop()
            raise
        self._task = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while True:
            self.fleet.advance()
            for servers in self.listeners:
                servers.reopen_due()
            self.ticks += 1
            await asyncio.sleep(self.tick_s)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        for servers in self.listeners:
            await servers.stop()
        self.fleet.read_staleness_s = 0.0

