"""The stock Antminer web interface over HTTP: one aiohttp application, one listening
socket per Antminer rig on its loopback address, port 80 (`[firmware.antminer] web_port`).

A thin shell over rigsim.antminer_web: every request must carry HTTP digest credentials
(realm "antMiner Configuration", rigsim.digest); without them, or with wrong ones, the
answer is 401 with a fresh challenge, as lighttpd on the firmware gives it. The rig a
request is for is the local address it arrived on. /cgi-bin/<command>.cgi goes to the
core (a POST's JSON body at most 64 KiB); "/" answers a small page; anything else is 404.
The listener closes while the control board reboots. Faults: a refusing rig's listener
is closed; a blackholed rig never answers; api_delay_s holds each reply back.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rigsim.digest import DigestAuth, Verdict
from rigsim.listeners import RigListeners
from rigsim.rig import ANTMINER

if TYPE_CHECKING:
    from rigsim.fleet import Fleet

REALM = "antMiner Configuration"
MAX_BODY = 64 * 1024
PAGE = "<html><head><title>Antminer</title></head><body>Antminer</body></html>"


class AntminerWebServers(RigListeners):
    """The web interface of every stock Antminer rig of a fleet."""

    name = "web interface"

    def __init__(self, fleet: Fleet, port: int | None = None, blackhole_hold_s: float = 60.0):
        s = fleet.config.firmware.antminer
        self.port = s.web_port if port is None else port
        self.blackhole_hold_s = blackhole_hold_s
        self.auth = DigestAuth(REALM, s.username, s.password)
        self._runner: web.AppRunner | None = None
        super().__init__(fleet)

    def serves(self, i: int) -> bool:
        return self.fleet.rigs[i].firmware == ANTMINER

    def down_until(self, i: int) -> float:
        return float(self.fleet.physics.api_down_until[i])

    async def start(self, rigs: Any = None) -> None:
        if self._runner is None:
            app = web.Application(client_max_size=MAX_BODY)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
        await super().start(rigs)

    async def _listen(self, i: int) -> asyncio.AbstractServer:
        assert self._runner is not None and self._runner.server is not None
        rig = self.fleet.rigs[i]
        loop = asyncio.get_running_loop()
        try:
            return await loop.create_server(self._runner.server, rig.address, self.port, backlog=64)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"rig {rig.name}: cannot listen on {rig.address}:{self.port}: {exc.strerror}"
                + (" (ports below 1024 need root, CAP_NET_BIND_SERVICE or sysctl "
                   "net.ipv4.ip_unprivileged_port_start)" if self.port < 1024 else ""),
            ) from exc  # fmt: skip

    def _close_handle(self, handle: asyncio.AbstractServer) -> None:
        handle.close()

    async def _wait_closed(self, handle: asyncio.AbstractServer) -> None:
        await handle.wait_closed()

    async def stop(self) -> None:
        await super().stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        rig = self.fleet.by_address.get(sock[0]) if sock else None
        if rig is None or rig.firmware != ANTMINER:
            raise web.HTTPNotFound()
        faults = self.fleet.faults(rig.index)
        if faults.unreachable == "blackhole":
            await asyncio.sleep(self.blackhole_hold_s)
            raise web.HTTPServiceUnavailable()
        if faults.api_delay_s > 0:
            await asyncio.sleep(faults.api_delay_s)
        now = time.time()
        verdict = self.auth.check(
            request.headers.get("Authorization"), request.method, request.path_qs, now
        )
        if verdict != Verdict.OK:
            challenge = self.auth.challenge(now, stale=verdict == Verdict.STALE)
            return web.Response(
                status=401, text="401 - Unauthorized", headers={"WWW-Authenticate": challenge}
            )
        path = request.path
        if path == "/":
            return web.Response(text=PAGE, content_type="text/html")
        if not (path.startswith("/cgi-bin/") and path.endswith(".cgi")):
            raise web.HTTPNotFound(text="404 - Not Found")
        body: dict[str, Any] | None = None
        if request.method == "POST" and request.can_read_body:
            try:
                parsed = json.loads(await request.read() or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                parsed = None
            if not isinstance(parsed, dict):
                return web.json_response({"stats": "error", "code": "M001", "msg": "bad JSON"})
            body = parsed
        reply = self.fleet.apis.antminer_web.handle(rig.index, path[9:-4], body)
        if reply is None:
            raise web.HTTPNotFound(text="404 - Not Found")
        return web.json_response(reply)
