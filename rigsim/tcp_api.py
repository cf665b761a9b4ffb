"""The rigs' TCP APIs: cgminer-style on port 4028 (every family) and Whatsminer's framed
API v3 on port 4433, one asyncio server per rig on its own loopback address.

Port 4028, like the firmware: one request per connection, a JSON reply (LuxOS, bosminer
and bmminer end it with a NUL byte), then the rig closes the socket. Which family answers
is the rig's firmware (rigsim.firmware). Linux routes all of 127.0.0.0/8 to `lo`, so
binding 127.1.0.1, 127.1.0.2, ... needs no setup; pyasic probes port 4028 on a rig's
address (its factory hard-codes 4028), so each rig needs its own address.

Port 4433 (Whatsminer API v3, newer btminer): each request and reply is a 4-byte
little-endian length and that many bytes of JSON; a connection may carry several.

API faults act here, not in the physics:
  unreachable = "refuse"     the rig's servers stop listening (connection refused)
  unreachable = "blackhole"  connections are accepted and never answered (a client timeout)
  api_delay_s                the reply is held back this many seconds
During a control-board reboot connections are reset for api_down_s; while the mining
process that serves these ports (bosminer, bmminer, btminer) restarts or is stopped, the
listeners are closed, so connections are refused, as on the firmware.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from rigsim.listeners import RigListeners
from rigsim.rig import WHATSMINER

if TYPE_CHECKING:
    from rigsim.fleet import Fleet

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024


class _RigProtocol(asyncio.Protocol):
    """One connection to one rig's API on port 4028."""

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
        transport = self.transport = cast(asyncio.Transport, transport)
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
        self._later(request)

    def _later(self, request: Any) -> None:
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

    def _answer(self, request: Any) -> bytes:
        return self.servers.fleet.apis.rpc(self.index).wire(self.index, request)

    def _reply(self, request: Any) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        try:
            reply = self._answer(request)
        except Exception:  # a bug must not take the whole fleet's event loop down
            log.exception("rig %d: request %r failed", self.index, request)
            transport.abort()
            return
        transport.write(reply)
        self._sent(transport)
        self.servers.requests_served += 1

    def _sent(self, transport: asyncio.Transport) -> None:
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None
        self.servers.connections.discard(self)


class _V3Protocol(_RigProtocol):
    """One connection to a Whatsminer's API v3 (port 4433): length-prefixed JSON frames,
    several per connection, closed after idle_timeout_s without a request."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        if self.done or self.transport is None:
            return
        self.buf += data
        if len(self.buf) < 4:
            return
        (length,) = struct.unpack("<I", self.buf[:4])
        if length > MAX_REQUEST:
            self.transport.abort()
            return
        if len(self.buf) < 4 + length:
            return
        body, self.buf = self.buf[4 : 4 + length], self.buf[4 + length :]
        self.done = True  # one request at a time, as the client waits for each reply
        self._later(body)

    def _answer(self, request: Any) -> bytes:
        reply = self.servers.fleet.apis.btminer_v3.wire(self.index, request)
        return struct.pack("<I", len(reply)) + reply

    def _sent(self, transport: asyncio.Transport) -> None:
        self.done = False
        if self.timer is not None:
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.servers.idle_timeout_s, transport.abort)
        if self.buf:
            self.data_received(b"")


class RigApiServers(RigListeners):
    """The TCP APIs of a fleet's rigs (all of them, or a chosen subset): port 4028 for
    every rig, port 4433 too for Whatsminers on API v3 firmware."""

    name = "TCP API"

    def __init__(
        self,
        fleet: Fleet,
        port: int | None = None,
        idle_timeout_s: float = 10.0,
        blackhole_hold_s: float = 60.0,
    ) -> None:
        self.port = fleet.config.fleet.api_port if port is None else port
        self.v3_port = fleet.config.firmware.whatsminer.v3_port
        self.idle_timeout_s = idle_timeout_s
        self.blackhole_hold_s = blackhole_hold_s
        self.requests_served = 0
        self.connections: set[_RigProtocol] = set()
        super().__init__(fleet)

    def down_until(self, i: int) -> float:
        """The mining process serves these ports: they close while it restarts or stops."""
        return float(self.fleet.physics.process_down_until[i])

    async def _listen(self, i: int) -> list[asyncio.AbstractServer]:
        rig = self.fleet.rigs[i]
        ports: list[tuple[int, type[_RigProtocol]]] = [(self.port, _RigProtocol)]
        if rig.firmware == WHATSMINER and rig.whatsminer_v3:
            ports.append((self.v3_port, _V3Protocol))
        loop = asyncio.get_running_loop()
        servers: list[asyncio.AbstractServer] = []
        for port, proto in ports:
            try:
                servers.append(
                    await loop.create_server(partial(proto, self, i), rig.address, port, backlog=64)
                )
            except OSError as exc:
                for s in servers:
                    s.close()
                raise OSError(
                    exc.errno, f"rig {rig.name}: cannot listen on {rig.address}:{port}: "
                    f"{exc.strerror}",
                ) from exc  # fmt: skip
        return servers

    def _close_handle(self, handle: list[asyncio.AbstractServer]) -> None:
        for s in handle:
            s.close()

    async def _wait_closed(self, handle: list[asyncio.AbstractServer]) -> None:
        for s in handle:
            await s.wait_closed()

    async def _after_close(self) -> None:
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
