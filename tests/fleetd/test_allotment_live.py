"""Live feeds against real sockets: an HTTP JSON server and a ZMQ publisher on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import zmq
import zmq.asyncio

from fleetd.allotment import FeedFields, HttpJsonFeed, ZmqFeed
from rigsim.clock import FakeClock
from tests.loopback_http import JsonServer, Request
from tests.waiting import wait_for


class Grid:
    """What the loopback grid operator serves; tests change it as they go."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {"mw": 3.0}
        self.stamp = True
        self.requests = 0


@pytest.fixture
def grid() -> Iterator[tuple[Grid, str]]:
    state = Grid()

    def answer(_: Request) -> tuple[int, bytes]:
        state.requests += 1
        body = state.body
        if isinstance(body, dict) and state.stamp:
            body = {**body, "as_of": time.time()}
        return state.status, body if isinstance(body, bytes) else json.dumps(body).encode()

    server = JsonServer(answer).start()
    try:
        yield state, f"{server.url}/allotment"
    finally:
        server.close()


@contextlib.asynccontextmanager
async def running(feed: HttpJsonFeed | ZmqFeed) -> AsyncIterator[None]:
    task = asyncio.create_task(feed.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_http_feed_polls_goes_stale_to_floor_and_recovers(grid: tuple[Grid, str]) -> None:
    state, url = grid
    feed = HttpJsonFeed("tso", url, interval_s=0.05, timeout_s=1.0, stale_after_s=0.4,
                        floor_mw=1.0)  # fmt: skip
    assert feed.current(time.time()).stale  # nothing heard yet: floor
    async with running(feed):
        await asyncio.wait_for(feed.updated.wait(), 3)
        r = feed.current(time.time())
        assert (r.mw, r.stale, r.source) == (3.0, False, "tso")
        state.status = 503  # the operator's server fails: the last figure ages
        await wait_for(lambda: feed.status(time.time()).errors > 0)
        assert feed.current(time.time()).mw == 3.0
        await wait_for(lambda: feed.current(time.time()).stale)
        stale = feed.current(time.time())
        assert stale.mw == 1.0 and "stale" in stale.detail
        st = feed.status(time.time())
        assert st.stale and st.age_s is not None and st.age_s > 0.4 and "HTTP 503" in st.last_error
        state.status, state.body = 200, {"mw": 2.5, "id": "TSO-9"}
        await wait_for(lambda: not feed.current(time.time()).stale)
        back = feed.current(time.time())
        assert (back.mw, back.change_id) == (2.5, "TSO-9")
    assert state.requests >= 5


async def test_http_feed_counts_bad_payloads_and_frozen_stamps(grid: tuple[Grid, str]) -> None:
    state, url = grid
    clock = FakeClock(1_900_000_000.0)
    feed = HttpJsonFeed("tso", url, stale_after_s=0.3, floor_mw=0.5, clock=clock.now)
    state.body = b"<html>maintenance</html>"
    assert not await feed.poll_once()
    assert "not JSON" in feed.status(clock.now()).last_error
    state.body = {"allotment": 4}
    assert not await feed.poll_once()
    assert "no 'mw'" in feed.state.last_error and feed.state.errors == 2
    # a server that answers but whose upstream froze: its stamp stops moving -> stale
    state.stamp, state.body = False, {"mw": 4.0, "as_of": clock.now()}
    assert await feed.poll_once()
    assert not feed.current(clock.now()).stale
    clock.advance(0.35)
    assert await feed.poll_once()  # still answering ...
    assert feed.current(clock.now()).stale  # ... with a figure too old to trust
    dead = HttpJsonFeed("gone", "http://127.0.0.1:9/x", timeout_s=0.5, floor_mw=0.5)
    assert not await dead.poll_once()
    assert "cannot connect (Connection refused)" in dead.state.last_error


async def test_zmq_feed_subscribes_to_its_topic_and_falls_back_when_quiet() -> None:
    ctx = zmq.asyncio.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    feed = ZmqFeed("push", f"tcp://127.0.0.1:{port}", topic="site-1", stale_after_s=0.4,
                   floor_mw=0.8, context=ctx,
                   fields=FeedFields(mw="kw", scale=1e-3))  # fmt: skip
    try:
        async with running(feed):
            # a subscriber joins late (ZMQ drops what it missed): publish until heard
            deadline = time.monotonic() + 5
            while feed.state.value is None:
                assert time.monotonic() < deadline, "subscriber never got a message"
                await pub.send_multipart([b"site-2", json.dumps({"kw": 9999}).encode()])
                msg = {"kw": 2750, "as_of": time.time(), "id": "Z1"}
                await pub.send_multipart([b"site-1", json.dumps(msg).encode()])
                await asyncio.sleep(0.05)
            r = feed.current(time.time())
            assert (r.mw, r.change_id, r.stale) == (2.75, "Z1", False)  # other topic ignored
            await pub.send(b"site-1 " + json.dumps({"kw": 2000, "as_of": time.time()}).encode())
            await wait_for(lambda: feed.current(time.time()).mw == 2.0)
            await pub.send_multipart([b"site-1", b"{not json"])
            await wait_for(lambda: feed.state.errors == 1)
            await wait_for(lambda: feed.current(time.time()).stale)  # publisher went quiet
            assert feed.current(time.time()).mw == 0.8
    finally:
        pub.close(0)
        ctx.term()
