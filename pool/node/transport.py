"""Blocking JSON-RPC calls over python-bitcoinrpc, for use from worker threads only.

``AuthServiceProxy`` keeps one persistent HTTP connection and is not thread-safe, so
each worker thread holds its own proxy per URL (``ThreadChannels``). The proxy is
given an ``http.client`` connection that we create, which lets another thread abort a
blocking GBT longpoll by shutting the socket down.

Every failure is turned into one of the ``pool.node.base`` error types here, in one
place, because Core and bcoin report the same situation differently: bcoin answers
JSON-RPC errors with HTTP 200, Core with 500/404; Core says -28 while loading; both
answer a wrong password with a bare 401 that python-bitcoinrpc reports as a "non-JSON
HTTP response".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException

from .base import NodeAuthError, NodeDown, NodeError, NodeRPCError, NodeWarmingUp

RPC_IN_WARMUP = -28
RPC_IN_INITIAL_DOWNLOAD = -10
RPC_METHOD_NOT_FOUND = -32601
RPC_DESERIALIZATION_ERROR = -22

_HTTP_STATUS = re.compile(r"'(\d{3}) ")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A node RPC URL. ``label`` is host:port/path without credentials, for logs."""

    url: str
    label: str
    host: str
    port: int
    https: bool

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Check a URL such as ``http://user:pass@127.0.0.1:8332/`` and name what is wrong."""
        parts = urlsplit(url)
        redacted = _redact(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"node URL {redacted!r}: scheme must be http or https")
        if not parts.hostname:
            raise ValueError(f"node URL {redacted!r}: no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"node URL {redacted!r}: bad port ({exc})") from None
        if port is None:
            raise ValueError(f"node URL {redacted!r}: a port is required (e.g. :8332)")
        if parts.password is None:
            raise ValueError(
                f"node URL {redacted!r}: credentials are required as user:password@ "
                "(bcoin: any user, the API key as password)"
            )
        path = parts.path or "/"
        clean = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        label = f"{parts.hostname}:{port}{'' if path == '/' else path}"
        return cls(clean, label, parts.hostname, port, parts.scheme == "https")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, ""))


class LongpollTimeout(Exception):
    """A longpoll reached the client's timeout with no change: not an error."""


def classify(exc: BaseException, endpoint: str, method: str) -> NodeError:
    """Map anything a blocking call raised to the error type that says what to do next."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, JSONRPCException):
        code = exc.code if isinstance(exc.code, int) else 0
        message = str(exc.message or "")
        if code == RPC_IN_WARMUP:
            return NodeWarmingUp(endpoint, message)
        if code == RPC_IN_INITIAL_DOWNLOAD:
            return NodeWarmingUp(endpoint, f"initial block download: {message}")
        if code == -342:  # python-bitcoinrpc: the HTTP answer was not JSON
            status = _HTTP_STATUS.search(message)
            if status and status.group(1) in ("401", "403"):
                return NodeAuthError(endpoint, int(status.group(1)))
            return NodeDown(endpoint, f"not a JSON-RPC server ({message})")
        if code == -343:
            return NodeDown(endpoint, "malformed JSON-RPC response (no result)")
        return NodeRPCError(code, message, method, endpoint)
    if isinstance(exc, ConnectionRefusedError):
        return NodeDown(endpoint, "connection refused")
    if isinstance(exc, TimeoutError):
        return NodeDown(endpoint, f"no answer to {method} (timed out)")
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return NodeDown(endpoint, f"{type(exc).__name__}: {exc}".rstrip(": "))
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return NodeDown(endpoint, f"unreadable response: {exc}")
    raise exc


class _Channel:
    """One proxy and the connection under it; owned by exactly one thread."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        conn_cls = http.client.HTTPSConnection if endpoint.https else http.client.HTTPConnection
        self.conn: http.client.HTTPConnection = conn_cls(
            endpoint.host, endpoint.port, timeout=timeout
        )
        self.proxy = AuthServiceProxy(endpoint.url, timeout=timeout, connection=self.conn)
        self.used = False

    def call(self, method: str, params: tuple[Any, ...]) -> Any:
        self.used = True
        return getattr(self.proxy, method)(*params)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


# A kept-alive connection the server closed while idle fails like this on reuse; the
# request never reached the server, so one immediate retry on a fresh connection is safe.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Abort:
    """Lets the event loop abort a blocking call in a worker thread (GBT longpoll)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self.aborted = False

    def attach(self, conn: http.client.HTTPConnection | None) -> None:
        with self._lock:
            self._conn = conn
            if conn is not None and self.aborted:
                _shutdown(conn)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            if self._conn is not None:
                _shutdown(self._conn)


def _shutdown(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class ThreadChannels:
    """Per-thread proxies, keyed by URL and timeout."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _table(self) -> dict[tuple[str, float], _Channel]:
        table = getattr(self._local, "channels", None)
        if table is None:
            table = self._local.channels = {}
        return table

    def call(
        self,
        endpoint: Endpoint,
        method: str,
        params: tuple[Any, ...],
        timeout: float,
        *,
        reuse: bool = True,
        abort: Abort | None = None,
    ) -> Any:
        """Run one JSON-RPC call; raises the classified ``NodeError`` on failure.

        ``reuse=False`` uses a throw-away connection and never retries: for calls that
        must not run twice (a wallet send), even after a connection reset.
        """
        table = self._table()
        key = (endpoint.url, timeout)
        for _ in range(2):
            channel = table.get(key) if reuse else None
            stale_possible = channel is not None and channel.used
            if channel is None:
                channel = _Channel(endpoint, timeout)
                if reuse:
                    table[key] = channel
            try:
                if abort is not None:
                    if abort.aborted:
                        raise NodeDown(endpoint.label, "call aborted")
                    if channel.conn.sock is None:
                        channel.conn.connect()
                    abort.attach(channel.conn)
                try:
                    return channel.call(method, params)
                finally:
                    if abort is not None:
                        abort.attach(None)
            except JSONRPCException as exc:
                if exc.code == -342:  # unread error body: the connection is unusable
                    self._drop(table, key, channel)
                raise classify(exc, endpoint.label, method) from None
            except _STALE as exc:
                self._drop(table, key, channel)
                if reuse and stale_possible and not (abort and abort.aborted):
                    continue
                raise classify(exc, endpoint.label, method) from None
            except TimeoutError as exc:
                self._drop(table, key, channel)
                if abort is not None:
                    raise LongpollTimeout() from None
                raise classify(exc, endpoint.label, method) from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self._drop(table, key, channel)
                if abort is not None and abort.aborted:
                    raise NodeDown(endpoint.label, "call aborted") from None
                raise classify(exc, endpoint.label, method) from None
            finally:
                if not reuse:
                    channel.close()
        raise AssertionError("unreachable")

    @staticmethod
    def _drop(
        table: dict[tuple[str, float], _Channel], key: tuple[str, float], ch: _Channel
    ) -> None:
        ch.close()
        if table.get(key) is ch:
            del table[key]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One timed HTTP round trip to a node, for metrics: (method, seconds, ok/error)."""

    method: str
    endpoint: str
    seconds: float
    ok: bool
    error: str | None = None


def timed_call(
    call: Callable[[], Any], endpoint: Endpoint, method: str
) -> tuple[Any, BaseException | None, CallRecord]:
    """Run `call` (one `ThreadChannels.call` of `method` on `endpoint`) in the current
    (worker) thread and never raise: the result or the error comes back with its timing,
    so the event loop side reports both."""
    start = time.perf_counter()
    try:
        result = call()
    except (NodeError, LongpollTimeout) as exc:
        seconds = time.perf_counter() - start
        return None, exc, CallRecord(method, endpoint.label, seconds, False, type(exc).__name__)
    seconds = time.perf_counter() - start
    return result, None, CallRecord(method, endpoint.label, seconds, True)
