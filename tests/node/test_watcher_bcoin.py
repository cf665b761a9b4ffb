"""The new-block watcher against a real bcoin, each trigger alone and all together.

bcoin has no ZMQ, so the ZMQ tests publish ``hashblock`` for the blocks bcoin really
mined from a pyzmq XPUB socket on loopback (a real ZMQ peer; XPUB lets the test see
the watcher's subscription arrive before it publishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import zmq
import zmq.asyncio

from pool.node import BlockWatcher, CallRecord, RetryPolicy, RpcNode
from tests.components.bcoin import BcoinNode, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


class Seen:
    """Records callbacks with their arrival time; lets a test await the next one.

    How fast each trigger sees a block is not asserted here (a loaded machine decides
    that); which trigger saw it, and that each tip is announced once, is."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, float]] = []
        self.refreshes: list[float] = []
        self._changed = asyncio.Event()

    async def on_new_block(self, besthash: str) -> None:
        self.blocks.append((besthash, time.monotonic()))
        self._changed.set()

    async def on_refresh(self) -> None:
        self.refreshes.append(time.monotonic())
        self._changed.set()

    async def block(self, blockhash: str, timeout: float = 5.0) -> float:
        """Seconds since the monotonic epoch at which ``blockhash`` was announced."""
        async with asyncio.timeout(timeout):
            while True:
                for h, t in self.blocks:
                    if h == blockhash:
                        return t
                self._changed.clear()
                await self._changed.wait()

    def count(self, blockhash: str) -> int:
        return sum(h == blockhash for h, _ in self.blocks)


@pytest.fixture
def calls() -> list[CallRecord]:
    """Every RPC round trip of the `node` fixture."""
    return []


@pytest.fixture
async def node(bcoin: BcoinNode, calls: list[CallRecord]) -> AsyncIterator[RpcNode]:
    async with RpcNode(bcoin.rpc_url, name="watch", on_call=calls.append) as n:
        yield n


async def more_polls(calls: list[CallRecord], n: int) -> None:
    """Wait until the watcher has asked for the tip `n` more times (any announcement
    those asks could wrongly make has been made by then)."""
    def polls() -> int:
        return sum(c.method == "getbestblockhash" for c in calls)

    target = polls() + n
    await wait_for(lambda: polls() >= target, 10, f"{n} more getbestblockhash calls")


def longpolling(name: str) -> Callable[[], bool]:
    """Whether the node named `name` has a longpoll in flight (its thread exists)."""
    return lambda: any(t.name.startswith(f"{name}-longpoll") for t in threading.enumerate())


@contextlib.asynccontextmanager
async def running(watcher: BlockWatcher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(watcher.run())
    try:
        async with asyncio.timeout(5):
            while watcher.tip is None:
                await asyncio.sleep(0.01)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def mine_one(bcoin: BcoinNode) -> str:
    (blockhash,) = await asyncio.to_thread(bcoin.mine, 1)
    return blockhash


def watcher(node: RpcNode, seen: Seen, **kw: Any) -> BlockWatcher:
    kw.setdefault("announce_initial", False)
    kw.setdefault("refresh_interval", None)
    return BlockWatcher(node, seen.on_new_block, seen.on_refresh, **kw)


async def test_poll_sees_a_new_block(
    bcoin: BcoinNode, node: RpcNode, calls: list[CallRecord]
) -> None:
    seen = Seen()
    w = watcher(node, seen, poll_interval=0.1, longpoll=False)
    async with running(w):
        blockhash = await mine_one(bcoin)
        await seen.block(blockhash)
        await more_polls(calls, 3)  # later polls see the same tip: no second announcement
    assert seen.count(blockhash) == 1 and len(seen.blocks) == 1
    assert w.detected_by == {"poll": 1}


async def test_longpoll_alone_sees_a_new_block(bcoin: BcoinNode, node: RpcNode) -> None:
    seen = Seen()
    w = watcher(node, seen, poll_interval=None, longpoll=True)
    async with running(w):
        await wait_for(longpolling("watch"), 10, "the longpoll in flight")
        blockhash = await mine_one(bcoin)
        await seen.block(blockhash)
        second = await mine_one(bcoin)
        await seen.block(second)
    assert w.detected_by == {"longpoll": 2}
    assert [h for h, _ in seen.blocks] == [blockhash, second]


async def test_a_longpoll_hands_over_the_template_it_brought(
    bcoin: BcoinNode, node: RpcNode
) -> None:
    """While on_new_block runs for a tip a longpoll announced, template_for(tip) is the
    template that longpoll returned (the pool builds its job from it without asking
    again); for any other hash, and once the callback is over, it is None."""
    handed: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    seen = Seen()
    w: BlockWatcher

    async def on_new_block(besthash: str) -> None:
        handed.append((besthash, w.template_for(besthash), w.template_for("00" * 32)))
        await seen.on_new_block(besthash)

    w = BlockWatcher(node, on_new_block, None, poll_interval=None, longpoll=True,
                     refresh_interval=None, announce_initial=False)  # fmt: skip
    async with running(w):
        await wait_for(longpolling("watch"), 10, "the longpoll in flight")
        blockhash = await mine_one(bcoin)
        await seen.block(blockhash)
    [(announced, template, other)] = handed
    assert announced == blockhash
    assert template is not None and template["previousblockhash"] == blockhash
    assert template["height"] == (await node.getblockcount()) + 1
    assert other is None
    assert w.template_for(blockhash) is None


class HashblockPublisher:
    def __init__(self) -> None:
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.url = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"
        self.seq = 0

    async def wait_subscriber(self) -> None:
        async with asyncio.timeout(5):
            while await self.sock.recv() != b"\x01hashblock":
                pass

    async def publish(self, blockhash: str, *, drop: bool = False) -> None:
        """Send like bitcoind does; ``drop`` loses the message but uses its sequence."""
        seq = self.seq
        self.seq += 1
        if not drop:
            await self.sock.send_multipart(
                [b"hashblock", bytes.fromhex(blockhash), seq.to_bytes(4, "little")]
            )

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def zpub() -> Iterator[HashblockPublisher]:
    p = HashblockPublisher()
    yield p
    p.close()


async def test_zmq_alone_triggers_the_check(
    bcoin: BcoinNode, node: RpcNode, zpub: HashblockPublisher
) -> None:
    seen = Seen()
    w = watcher(node, seen, poll_interval=None, longpoll=False, zmq_url=zpub.url)
    async with running(w):
        await zpub.wait_subscriber()
        blockhash = await mine_one(bcoin)
        await zpub.publish(blockhash)
        await seen.block(blockhash)
        await zpub.publish(blockhash)  # a repeat is no new tip
        second = await mine_one(bcoin)
        await zpub.publish(second)  # read after the repeat: it was handled by then
        await seen.block(second)
    assert w.detected_by == {"zmq": 2} and seen.count(blockhash) == 1


async def test_a_dropped_zmq_message_is_covered_by_the_poll(
    bcoin: BcoinNode, node: RpcNode, zpub: HashblockPublisher
) -> None:
    seen = Seen()
    w = watcher(node, seen, poll_interval=0.1, longpoll=False, zmq_url=zpub.url)
    async with running(w):
        await zpub.wait_subscriber()
        first = await mine_one(bcoin)
        await zpub.publish(first)
        await seen.block(first)
        lost = await mine_one(bcoin)
        await zpub.publish(lost, drop=True)
        await seen.block(lost)
        third = await mine_one(bcoin)
        await zpub.publish(third)
        await seen.block(third)
    assert w.detected_by["poll"] >= 1  # the lost one, at least
    assert [h for h, _ in seen.blocks] == [first, lost, third]
    assert w.zmq_missed == 1


async def test_every_trigger_at_once_still_announces_each_tip_once(
    bcoin: BcoinNode, node: RpcNode, zpub: HashblockPublisher, calls: list[CallRecord]
) -> None:
    seen = Seen()
    w = watcher(node, seen, poll_interval=0.02, longpoll=True, zmq_url=zpub.url)
    async with running(w):
        await zpub.wait_subscriber()
        await wait_for(longpolling("watch"), 10, "the longpoll in flight")
        mined = []
        for _ in range(3):
            blockhash = await mine_one(bcoin)
            await zpub.publish(blockhash)
            await zpub.publish(blockhash)
            await seen.block(blockhash)
            mined.append(blockhash)
        await more_polls(calls, 5)
    assert [h for h, _ in seen.blocks] == mined
    assert sum(w.detected_by.values()) == 3
    assert seen.refreshes == []  # a longpoll woken by a block is not a template refresh


async def test_initial_tip_is_announced_and_refresh_timer_runs(
    bcoin: BcoinNode, node: RpcNode
) -> None:
    seen = Seen()
    w = BlockWatcher(
        node,
        seen.on_new_block,
        seen.on_refresh,
        poll_interval=None,
        longpoll=False,
        refresh_interval=0.15,
    )
    async with running(w):
        assert [h for h, _ in seen.blocks] == [await node.getbestblockhash()]
        await wait_for(lambda: len(seen.refreshes) >= 3, 10, "three timer refreshes")
    gaps = [b - a for a, b in zip(seen.refreshes, seen.refreshes[1:], strict=False)]
    assert min(gaps) > 0.14  # the timer never fires early (late, on a busy machine, is fine)
    assert w.refreshes["timer"] == len(seen.refreshes)
    assert w.detected_by == {"start": 1}


async def test_cancelling_the_watcher_is_prompt_and_releases_threads(bcoin: BcoinNode) -> None:
    seen = Seen()
    async with RpcNode(bcoin.rpc_url, name="wcancel") as n:
        w = BlockWatcher(n, seen.on_new_block, seen.on_refresh, poll_interval=0.1)
        task = asyncio.create_task(w.run())
        await wait_for(longpolling("wcancel"), 10, "the longpoll in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):  # not stuck behind the longpoll's minutes
                await task
    deadline = time.monotonic() + 2
    while any(t.name.startswith("wcancel-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "RPC threads still alive after close"
        await asyncio.sleep(0.02)


async def test_watcher_survives_a_dead_node_and_says_so(
    bcoin: BcoinNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pool.node")
    seen = Seen()
    url = f"http://bcoin:{bcoin.api_key}@127.0.0.1:{free_port()}/"
    policy = RetryPolicy(rounds=1)
    failed: list[CallRecord] = []
    async with RpcNode(url, retry=policy, on_call=failed.append) as n:
        w = BlockWatcher(n, seen.on_new_block, poll_interval=0.05, error_backoff=0.05)
        task = asyncio.create_task(w.run())
        await wait_for(lambda: len(failed) >= 4, 10, "four refused polls")
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen.blocks == []
    assert caplog.text.count("watcher: cannot read the best block") == 1
    assert "is down: connection refused" in caplog.text
