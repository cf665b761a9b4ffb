"""The LuxOS API on TCP: one asyncio server per rig on its own loopback address, port 4028.

Like the firmware: one request per connection, a JSON reply terminated by a NUL byte,
then the rig closes the socket. Linux routes all of 127.0.0.0/8 to `lo`, so binding
127.1.0.1, 127.1.0.2, ... needs no setup; pyasic probes port 4028 on a rig's address
(its factory hard-codes 4028), so each rig needs its own address.

API faults act here, not in the physics:
  unreachable = "refuse"     the rig's server stops listening (connection refused)
  unreachable = "blackhole"  connections are accepted and never answered (a client timeout)
  api_delay_s                the reply is held back this many seconds
and during a control-board reboot (`rebootdevice`) connections are reset for api_down_s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigsim.fleet import Faults, Fleet

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
_SEPARATORS = (",", ":")


class _RigProtocol(asyncio.Protocol):
    """One connection to one rig's API."""

    __slots__ = ("buf", "done", "index", "servers", "timer", "transport")

    def __init__(self, servers: RigApiServers, index: int) -> None:
        self.servers = servers
        self.index = index
        self.buf = b""
        self.done = False
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its API
        self.transport = transport  # type: ignore[assignment]
        self.servers.connections.add(self)
        fleet = self.servers.fleet
        loop = asyncio.get_running_loop()
        if fleet.faults(self.index).unreachable == "blackhole":
            self.done = True  # swallow the request; hang up only much later
            self.timer = loop.call_later(self.servers.blackhole_hold_s, transport.abort)
            return
        if fleet.now() < fleet.physics.api_down_until[self.index]:
            transport.abort()  # the control board is rebooting
            return
        self.timer = loop.call_later(self.servers.idle_timeout_s, transport.abort)

    def data_received(self, data: bytes) -> None:
        if self.done or self.transport is None:
            return
        self.buf += data
        request = self._request()
        if request is None:
            if len(self.buf) > MAX_REQUEST:
                self.transport.abort()
            return
        self.done = True
        delay = self.servers.fleet.faults(self.index).api_delay_s
        if delay > 0:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = asyncio.get_running_loop().call_later(delay, self._reply, request)
        else:
            self._reply(request)

    def _request(self) -> dict[str, Any] | str | None:
        """The request once it is complete: JSON object, or cgminer plain text."""
        text = self.buf.strip(b"\x00 \r\n\t")
        if not text:
            return None
        if text[:1] != b"{":
            return text.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            # incomplete, unless it already ends like a whole object
            return text.decode("utf-8", errors="replace") if text.endswith(b"}") else None
        return parsed if isinstance(parsed, dict) else text.decode("utf-8", errors="replace")

    def _reply(self, request: dict[str, Any] | str) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        try:
            reply = self.servers.fleet.luxos.handle(self.index, request)
        except Exception:  # a bug must not take the whole fleet's event loop down
            log.exception("rig %d: request %r failed", self.index, request)
            transport.abort()
            return
        transport.write(json.dumps(reply, separators=_SEPARATORS).encode() + b"\x00")
        transport.close()
        self.servers.requests_served += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None
        self.servers.connections.discard(self)


class RigApiServers:
    """The TCP APIs of a fleet's rigs (all of them, or a chosen subset)."""

    def __init__(
        self,
        fleet: Fleet,
        port: int | None = None,
        idle_timeout_s: float = 10.0,
        blackhole_hold_s: float = 60.0,
    ) -> None:
        self.fleet = fleet
        self.port = fleet.config.fleet.api_port if port is None else port
        self.idle_timeout_s = idle_timeout_s
        self.blackhole_hold_s = blackhole_hold_s
        self.requests_served = 0
        self._servers: dict[int, asyncio.Server] = {}
        self._wanted: set[int] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self.connections: set[_RigProtocol] = set()
        fleet.watch_faults(self._on_faults)

    async def start(self, rigs: Iterable[int] | None = None) -> None:
        """Listen for the given rigs (default: every rig). Raises OSError naming the address."""
        wanted = range(len(self.fleet)) if rigs is None else rigs
        for i in wanted:
            self._wanted.add(int(i))
            await self._open(int(i))

    async def _open(self, i: int) -> None:
        if i in self._servers or self.fleet.faults(i).unreachable == "refuse":
            return
        rig = self.fleet.rigs[i]
        loop = asyncio.get_running_loop()
        try:
            self._servers[i] = await loop.create_server(
                lambda: _RigProtocol(self, i), rig.address, self.port, backlog=64
            )
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"rig {rig.name}: cannot listen on {rig.address}:{self.port}: {exc.strerror}",
            ) from exc

    def _close(self, i: int) -> None:
        server = self._servers.pop(i, None)
        if server is not None:
            server.close()

    def _on_faults(self, i: int, old: Faults, new: Faults) -> None:
        if i not in self._wanted or old.unreachable == new.unreachable:
            return
        if new.unreachable == "refuse":
            self._close(i)
        elif old.unreachable == "refuse":
            task = asyncio.get_running_loop().create_task(self._open(i))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    @property
    def listening(self) -> int:
        return len(self._servers)

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        servers = list(self._servers.values())
        self._servers.clear()
        self._wanted.clear()
        for s in servers:
            s.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for s in servers:
            await s.wait_closed()
