"""Live allotment feeds: an HTTP JSON endpoint polled, or a ZMQ PUB socket subscribed.

Thin asyncio shells around FeedState (fleetd.allotment.feed): they fetch, decode and hand
over; the staleness rule and the fallback to the floor live in the pure core. A failed
poll or a bad message is counted (metrics), logged with what was wrong (rate-limited,
fleetd.allotment.health), and leaves the last good figure in place, which then ages
towards the floor. With a `verifier` (plumbing.signing: a per-site HMAC key), a message
must be signed, fresh and not replayed; one that is not is refused the same way, and
counted by reason for the metric. A reply or message larger than MAX_MESSAGE_BYTES is
refused unread.

HTTP uses httpx (installed with pyasic); ZMQ uses pyzmq's asyncio sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, Unpack

import httpx
import zmq
import zmq.asyncio

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    ScheduledChange,
    SourceStatus,
    shown,
)
from fleetd.allotment.feed import FeedFields, FeedState, parse_message
from fleetd.allotment.health import FeedLog
from plumbing.signing import Refused, Verifier

Clock = Callable[[], float]
MAX_MESSAGE_BYTES = 1 << 20  # an allotment message is a few hundred bytes


def describe_http_error(exc: httpx.HTTPError, timeout_s: float) -> str:
    """What went wrong with a poll, in an operator's words (no URL: it may hold a secret)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({_os_reason(exc) or shown(str(exc))})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return f"connection reset or broken reply ({type(exc).__name__}: {shown(str(exc))})"
    return f"{type(exc).__name__}: {shown(str(exc))}"


def _os_reason(exc: BaseException) -> str:
    """The operating system's word for a failed connection ("Connection refused"), found
    in the chain of causes httpx wraps it in."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        for e in (seen, *getattr(seen, "exceptions", ())):  # or a group of attempts
            if isinstance(e, OSError) and isinstance(e.errno, int):
                return os.strerror(e.errno)
        seen = seen.__cause__ or seen.__context__
    return ""


class FeedOptions(TypedDict, total=False):
    """What every live feed takes besides where it listens: the keyword arguments of
    _LiveFeed, passed on unchanged by HttpJsonFeed and ZmqFeed."""

    stale_after_s: float
    floor_mw: float
    fields: FeedFields | None
    clock: Clock
    verifier: Verifier | None


class _LiveFeed:
    kind = "feed"

    def __init__(
        self,
        name: str,
        *,
        stale_after_s: float = 60.0,
        floor_mw: float = 0.0,
        fields: FeedFields | None = None,
        clock: Clock = time.time,
        verifier: Verifier | None = None,
    ) -> None:
        self.name = name
        self.fields = fields or FeedFields()
        self.clock = clock
        # with a key configured, only signed, fresh, unreplayed messages are taken
        self.verifier = verifier
        self.state = FeedState(name, self.kind, stale_after_s, floor_mw)
        self.log = FeedLog(self.state)
        self.updated = asyncio.Event()  # set on every good message (tests, the controller)

    def fail(self, reason: str, now: float | None = None) -> None:
        """Count, remember and log (rate-limited) one failed attempt."""
        now = self.clock() if now is None else now
        self.state.fail(reason, now)
        self.log.failed(reason, now)
        self.log.check(now)

    def handle(self, payload: Any, received_at: float | None = None) -> bool:
        """Take one decoded message; False (counted and logged) when it is unusable."""
        now = self.clock() if received_at is None else received_at
        if self.verifier is not None:
            try:
                payload = self.verifier.open(payload, now)
            except Refused as exc:
                self.fail(f"{self.name}: {exc}", now)
                return False
        try:
            value = parse_message(payload, self.fields, now, self.name)
        except AllotmentError as exc:
            self.fail(str(exc), now)
            return False
        if not self.state.accept(value, now):
            self.log.failed(self.state.last_error, now)
            self.log.check(now)
            return False
        self.log.check(now)
        self.updated.set()
        return True

    def handle_bytes(self, data: bytes) -> bool:
        if len(data) > MAX_MESSAGE_BYTES:
            self.fail(f"{self.name}: message of {len(data)} bytes; expected at most "
                      f"{MAX_MESSAGE_BYTES}")  # fmt: skip
            return False
        if not data.strip():
            self.fail(f"{self.name}: empty message; expected a JSON object")
            return False
        try:
            payload = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.fail(f"{self.name}: message is not JSON ({exc}): {shown(data[:40])}")
            return False
        return self.handle(payload)

    def check(self) -> None:
        """Log a change of state that came with time alone (the feed went stale)."""
        self.log.check(self.clock())

    def current(self, now: float) -> AllotmentReading:
        return self.state.current(now)

    def in_force(self, now: float) -> AllotmentReading:
        return self.state.in_force(now)

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        return self.state.next_changes(now, horizon_s)

    def status(self, now: float) -> SourceStatus:
        return self.state.status(now)


class HttpJsonFeed(_LiveFeed):
    """Polls `url` every `interval_s` with a per-request timeout."""

    kind = "http_json"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        interval_s: float = 5.0,
        timeout_s: float = 3.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        **options: Unpack[FeedOptions],
    ) -> None:
        super().__init__(name, **options)
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._client = client

    async def poll_once(self) -> bool:
        """One request; True when it brought a usable figure."""
        client = self._client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            async with client.stream("GET", self.url, headers=self.headers,
                                     timeout=self.timeout_s) as resp:  # fmt: skip
                if resp.status_code != 200:
                    self.fail(f"{self.name}: HTTP {resp.status_code} "
                              f"{shown(resp.reason_phrase, 40)}")  # fmt: skip
                    return False
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_MESSAGE_BYTES:
                        self.fail(f"{self.name}: reply larger than {MAX_MESSAGE_BYTES} bytes")
                        return False
            return self.handle_bytes(bytes(body))
        except httpx.HTTPError as exc:
            self.fail(f"{self.name}: {describe_http_error(exc, self.timeout_s)}")
            return False
        finally:
            if self._client is None:
                await client.aclose()

    async def run(self) -> None:
        """Poll until cancelled (one client, reused)."""
        own = self._client is None
        if own:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            while True:
                started = time.monotonic()
                await self.poll_once()
                self.check()
                await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            if own and self._client is not None:
                await self._client.aclose()
                self._client = None


class ZmqFeed(_LiveFeed):
    """Subscribes to `endpoint` (e.g. tcp://grid-operator:5556) for `topic`.

    A message is [topic, json] (two frames), or one frame holding the JSON, optionally
    after the topic and a space.
    """

    kind = "zmq"

    def __init__(
        self,
        name: str,
        endpoint: str,
        *,
        topic: str = "",
        context: zmq.asyncio.Context | None = None,
        **options: Unpack[FeedOptions],
    ) -> None:
        super().__init__(name, **options)
        self.endpoint = endpoint
        self.topic = topic.encode()
        self._context = context

    def _payload(self, frames: list[bytes]) -> bytes:
        if len(frames) >= 2:
            return frames[-1]
        data = frames[0] if frames else b""
        if self.topic and data.startswith(self.topic):
            data = data[len(self.topic) :]
        return data.strip()

    async def run(self) -> None:
        """Receive until cancelled; the socket reconnects by itself (ZMQ does that)."""
        ctx = self._context or zmq.asyncio.Context.instance()
        sock = ctx.socket(zmq.SUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            sock.setsockopt(zmq.SUBSCRIBE, self.topic)
            sock.connect(self.endpoint)
            if self.state.started_at is None:
                self.state.started_at = self.clock()
            while True:
                if await sock.poll(timeout=1000):  # ms; a quiet feed is still checked
                    frames = await sock.recv_multipart()
                    self.handle_bytes(self._payload(frames))
                self.check()
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.close(linger=0)
