"""A Stratum session behind a load balancer that speaks the PROXY protocol.

Used in place of StratumSession when `[stratum] proxy_protocol = true`, so the default
path stays as it is. A connection from `proxy_networks` must start with a PROXY header
(v2 or v1, pool.stratum.proxy_header); the session is admitted only once the header is
read, as coming from the client it names, so bans, the per-address cap, trusted networks
and the address stored with each share are the miner's own. A connection from anyone
else is a miner speaking for itself; if its first bytes look like a PROXY header it is
closed, because believing it would let anyone pick the address they are banned by.
Every refusal is counted (`proxy_refused`) and logged through the server's throttle,
with at most 32 of the offending bytes, escaped.
"""

from __future__ import annotations

import asyncio
from typing import cast

from pool.stratum.limits import Network, is_trusted
from pool.stratum.proxy_header import (
    V1_MAX,
    V2_MAX_PAYLOAD,
    ProxyHeaderError,
    looks_like_header,
    parse,
)
from pool.stratum.session import SessionHost, StratumSession

HEADER_BYTES_MAX = 16 + V2_MAX_PAYLOAD
SHOWN_BYTES = 32
_PASS = b"pass"  # `_pending` once the header question is settled (identity, not value)


class ProxiedSession(StratumSession):
    __slots__ = ("_peer", "_pending", "_proxies", "_timer")

    def __init__(self, server: SessionHost, proxies: tuple[Network, ...]) -> None:
        super().__init__(server)
        self._proxies = proxies
        self._peer = ""
        # bytearray: a header from a proxy being read; None: a direct peer's first
        # bytes not seen yet; _PASS: plain Stratum from here on
        self._pending: bytearray | bytes | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        peer = transport.get_extra_info("peername")
        if not peer:  # gone before it was accepted (a load balancer's quick health check)
            self.closed = True
            transport.abort()
            return
        self._peer = self.remote = peer[0]
        if not is_trusted(self._peer, self._proxies):
            self.enter(self._peer)
            return
        self._pending = bytearray()
        config = self.server.config
        self._timer = asyncio.get_running_loop().call_later(
            min(config.line_timeout, config.subscribe_timeout), self._header_late
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        pending = self._pending
        if pending is _PASS:
            super().data_received(data)
            return
        if pending is None:  # a direct peer: its first bytes may not be a PROXY header
            self._pending = _PASS
            if looks_like_header(data):
                self._refuse("a PROXY header from a peer not in stratum.proxy_networks", data)
                return
            super().data_received(data)
            return
        assert isinstance(pending, bytearray)
        pending += data
        try:
            header = parse(bytes(pending))
        except ProxyHeaderError as exc:
            self._refuse(str(exc), bytes(pending))
            return
        if header is None:
            if len(pending) > max(HEADER_BYTES_MAX, V1_MAX):
                self._refuse("a PROXY header that does not end", bytes(pending))
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rest = bytes(pending[header.length:])
        self._pending = _PASS
        self.enter(header.source[0] if header.source is not None else self._peer)
        if rest and not self.closed:
            super().data_received(rest)

    def _header_late(self) -> None:
        self._timer = None
        if isinstance(self._pending, bytearray) and not self.closed:
            self._refuse("no PROXY header in time", bytes(self._pending))

    def _refuse(self, reason: str, data: bytes) -> None:
        self._pending = _PASS
        self.server.stats.proxy_refused += 1
        self.server.closures.event(
            "proxy_header", "closing %s: %s (first bytes %r)", self._peer, reason,
            data[:SHOWN_BYTES],
        )
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
