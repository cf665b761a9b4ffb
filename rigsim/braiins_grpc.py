"""The Braiins OS+ gRPC public API over HTTP/2: one grpclib server per Braiins rig, on the
rig's loopback address, port 50051 (`[firmware.braiins] grpc_port`).

A thin shell over rigsim.braiins: it decodes the request with pyasic's betterproto
message, checks the `authorization` metadata against the rig's live tokens, calls the
core and sends its reply; Login sends the new token in the `authorization` response
header, as the firmware does. The API outlives bosminer (Start must reach a stopped
bosminer), so this listener closes only while the control board reboots. Faults: a
refusing rig's listener is closed; a blackholed rig accepts calls and never answers
them; api_delay_s holds each reply back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import grpclib.const
from grpclib import GRPCError, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.server import Server, Stream
from pyasic.web.braiins_os.proto.braiins.bos import v1 as bos

from rigsim.braiins import METHODS, PUBLIC
from rigsim.listeners import RigListeners
from rigsim.rig import BRAIINS

if TYPE_CHECKING:
    from rigsim.fleet import Fleet

LOGIN = "/braiins.bos.v1.AuthenticationService/Login"

Handler = Callable[[Stream[Any, Any]], Coroutine[Any, Any, None]]


class _Codec(ProtoCodec):
    """grpclib's protobuf codec that also sends replies the core has already serialised."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        return super().encode(message, message_type)


class _RigService:
    """The gRPC services of one rig, as grpclib's IServable."""

    def __init__(self, servers: BraiinsGrpcServers, i: int) -> None:
        self.servers = servers
        self.i = i

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        unary = grpclib.const.Cardinality.UNARY_UNARY
        out = {
            LOGIN: grpclib.const.Handler(self._login, unary, bos.LoginRequest, bos.LoginResponse)
        }
        for path, (name, request, reply, access) in METHODS.items():
            out[path] = grpclib.const.Handler(self._method(name, access), unary, request, reply)
        return out

    async def _faults(self) -> None:
        faults = self.servers.fleet.faults(self.i)
        if faults.unreachable == "blackhole":
            await asyncio.sleep(self.servers.blackhole_hold_s)
            raise GRPCError(Status.UNAVAILABLE, "no answer")
        if faults.api_delay_s > 0:
            await asyncio.sleep(faults.api_delay_s)

    async def _login(self, stream: Stream[bos.LoginRequest, bos.LoginResponse]) -> None:
        request = await stream.recv_message()
        await self._faults()
        assert request is not None
        api = self.servers.fleet.apis.braiins
        token = api.login(self.i, request.username, request.password, time.monotonic())
        await stream.send_initial_metadata(metadata={"authorization": token})
        timeout = round(api.settings.token_timeout_s)
        await stream.send_message(bos.LoginResponse(token=token, timeout_s=timeout))

    def _method(self, name: str, access: int) -> Handler:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            if request is None:  # the client closed its side without a request
                raise GRPCError(Status.INVALID_ARGUMENT, "expected a request message")
            await self._faults()
            api = self.servers.fleet.apis.braiins
            if access != PUBLIC:
                token = stream.metadata.get("authorization") if stream.metadata else None
                if not isinstance(token, str) or not api.authorised(self.i, token,
                                                                     time.monotonic()):
                    raise GRPCError(Status.UNAUTHENTICATED, "Unauthenticated")
            await stream.send_message(api.encoded(self.i, name, request))

        return handle


class BraiinsGrpcServers(RigListeners):
    """The gRPC API of every Braiins OS rig of a fleet."""

    name = "gRPC API"

    def __init__(self, fleet: Fleet, port: int | None = None, blackhole_hold_s: float = 60.0):
        self.port = fleet.config.firmware.braiins.grpc_port if port is None else port
        self.blackhole_hold_s = blackhole_hold_s
        super().__init__(fleet)

    def serves(self, i: int) -> bool:
        return self.fleet.rigs[i].firmware == BRAIINS

    def down_until(self, i: int) -> float:
        return float(self.fleet.physics.api_down_until[i])

    async def _listen(self, i: int) -> Server:
        rig = self.fleet.rigs[i]
        server = Server([_RigService(self, i)], codec=_Codec())
        try:
            await server.start(rig.address, self.port, backlog=64)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"rig {rig.name}: cannot listen on {rig.address}:{self.port}: {exc.strerror}",
            ) from exc
        return server

    def _close_handle(self, handle: Server) -> None:
        handle.close()

    async def _wait_closed(self, handle: Server) -> None:
        await handle.wait_closed()
