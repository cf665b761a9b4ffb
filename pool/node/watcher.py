"""New-block watcher: every way of hearing about a block funnels into one check.

Three triggers, because each alone fails somewhere: ZMQ ``hashblock`` is instant but
drops messages (and bcoin has none); GBT longpoll is instant on nodes that support it
but is one slow HTTP request; a ``getbestblockhash`` poll (100 ms) is the floor that
always works. Each trigger only *asks* "is there a new tip?"; the answer always comes
from ``getbestblockhash`` under one lock, so ``on_new_block(besthash)`` runs exactly
once per tip change no matter how many triggers fire (tips replaced while a callback
was still running are skipped: the pool only wants the newest).

A refresh timer (30 s) calls ``on_refresh()`` so templates pick up new transactions;
it restarts after every new block or longpoll-announced template change.

A longpoll that wakes for a new tip has already brought that tip's template; while
``on_new_block`` runs for it, ``template_for(hash)`` hands it over, so the pool builds
the job without a second getblocktemplate round trip on the way to the miners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

import zmq
import zmq.asyncio

from .base import Node, NodeError

log = logging.getLogger("pool.node.watcher")

NewBlockCallback = Callable[[str], Awaitable[None]]
RefreshCallback = Callable[[], Awaitable[None]]

HASHBLOCK = b"hashblock"


@dataclass(frozen=True, slots=True)
class HashBlock:
    blockhash: str  # RPC (display) byte order, as getbestblockhash returns it
    sequence: int | None


def parse_hashblock(frames: Sequence[bytes]) -> HashBlock:
    """Decode a ZMQ ``hashblock`` message: topic, 32-byte hash, 4-byte LE sequence."""
    if len(frames) < 2 or frames[0] != HASHBLOCK:
        raise ValueError(f"not a hashblock message: {len(frames)} frame(s)")
    if len(frames[1]) != 32:
        raise ValueError(f"hashblock body is {len(frames[1])} bytes, expected 32")
    seq = None
    if len(frames) >= 3 and len(frames[2]) == 4:
        seq = int.from_bytes(frames[2], "little")
    return HashBlock(frames[1].hex(), seq)


class SequenceGap:
    """Counts ZMQ messages lost between two received sequence numbers."""

    def __init__(self) -> None:
        self.last: int | None = None

    def observe(self, seq: int | None) -> int:
        if seq is None:
            return 0
        missed = 0 if self.last is None else (seq - self.last - 1) % 2**32
        self.last = seq
        return missed


class TipTracker:
    """Remembers the tip last announced; says whether a seen hash is a change."""

    def __init__(self) -> None:
        self.tip: str | None = None

    def observe(self, besthash: str) -> bool:
        if besthash == self.tip:
            return False
        self.tip = besthash
        return True


@dataclass(eq=False)
class BlockWatcher:
    """Calls ``on_new_block(hash)`` once per new tip and ``on_refresh()`` periodically.

    Run with ``await watcher.run()`` inside a task; cancel the task to stop. Set
    ``poll_interval=None`` or ``longpoll=False`` to turn a trigger off (tests do, to
    show each path alone); ``zmq_url`` (e.g. ``tcp://127.0.0.1:28332``) turns ZMQ on.
    """

    node: Node
    on_new_block: NewBlockCallback
    on_refresh: RefreshCallback | None = None
    _: KW_ONLY
    poll_interval: float | None = 0.1
    refresh_interval: float | None = 30.0
    zmq_url: str | None = None
    longpoll: bool = True
    announce_initial: bool = True
    error_backoff: float = 1.0
    zmq_context: zmq.asyncio.Context | None = None

    def __post_init__(self) -> None:
        if self.poll_interval is not None and self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 or None, got {self.poll_interval}")
        if self.refresh_interval is not None and self.refresh_interval <= 0:
            raise ValueError(f"refresh_interval must be > 0 or None, got {self.refresh_interval}")
        self._tracker = TipTracker()
        self._lock = asyncio.Lock()
        self._timer_reset = asyncio.Event()
        self._node_ok = True
        self.detected_by: Counter[str] = Counter()  # new tips, by the trigger that saw them
        self.refreshes: Counter[str] = Counter()
        self.zmq_missed = 0
        self.zmq_ready = asyncio.Event()
        self._fresh: dict[str, Any] | None = None  # the longpoll's template, being announced

    @property
    def tip(self) -> str | None:
        return self._tracker.tip

    def template_for(self, besthash: str) -> dict[str, Any] | None:
        """The template a longpoll brought for the tip `besthash`, while its
        ``on_new_block`` runs (None otherwise: then ask the node)."""
        fresh = self._fresh
        if fresh is not None and fresh.get("previousblockhash") == besthash:
            return fresh
        return None

    async def run(self) -> None:
        """Run every configured trigger until cancelled."""
        with contextlib.suppress(NodeError):
            await self.check("start")
        async with asyncio.TaskGroup() as tg:
            if self.poll_interval is not None:
                tg.create_task(self._poll_loop(), name="watcher-poll")
            if self.longpoll:
                tg.create_task(self._longpoll_loop(), name="watcher-longpoll")
            if self.zmq_url:
                tg.create_task(self._zmq_loop(self.zmq_url), name="watcher-zmq")
            if self.refresh_interval is not None and self.on_refresh is not None:
                tg.create_task(self._refresh_loop(), name="watcher-refresh")

    async def check(self, source: str = "manual", hint: str | None = None) -> bool:
        """Ask the node for its tip; announce it when it changed. True if it did.

        Public so the pool can call it right after its own block was accepted."""
        if hint is not None and hint == self._tracker.tip:
            return False
        async with self._lock:
            try:
                best = await self.node.getbestblockhash()
            except NodeError as exc:
                self._node_state(False, exc)
                raise
            self._node_state(True)
            first = self._tracker.tip is None
            if not self._tracker.observe(best):
                return False
            if first and not self.announce_initial:
                return False
            self.detected_by[source] += 1
            log.info("new block %s (seen by %s)", best, source)
            self._timer_reset.set()
            try:
                await self.on_new_block(best)
            except Exception:
                log.exception("on_new_block(%s) failed", best)
            return True

    async def refresh(self, source: str = "manual") -> None:
        """Run ``on_refresh`` now (serialised with new-block callbacks)."""
        if self.on_refresh is None:
            return
        async with self._lock:
            self.refreshes[source] += 1
            self._timer_reset.set()
            try:
                await self.on_refresh()
            except Exception:
                log.exception("on_refresh failed")

    def _node_state(self, ok: bool, exc: Exception | None = None) -> None:
        if ok and not self._node_ok:
            log.info("watcher: node answers again")
        elif not ok and self._node_ok:
            log.warning("watcher: cannot read the best block: %s", exc)
        self._node_ok = ok

    # -- triggers --------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        assert self.poll_interval is not None
        while True:
            try:
                await self.check("poll")
            except NodeError:
                await asyncio.sleep(max(self.error_backoff - self.poll_interval, 0.0))
            await asyncio.sleep(self.poll_interval)

    async def _longpoll_loop(self) -> None:
        longpollid: str | None = None
        prev: str | None = None  # previousblockhash of the template we wait on
        while True:
            started = time.monotonic()
            try:
                template = await self.node.getblocktemplate(longpollid)
            except NodeError as exc:
                log.debug("longpoll failed: %s", exc)
                longpollid = None
                await asyncio.sleep(self.error_backoff)
                continue
            new_id = template.get("longpollid")
            if not new_id:
                log.info("watcher: the node offers no GBT longpoll; relying on the other triggers")
                return
            new_prev = template.get("previousblockhash")
            if longpollid is not None:
                if new_prev != prev:
                    self._fresh = template
                    try:
                        with contextlib.suppress(NodeError):  # the poll loop reports outages
                            await self.check("longpoll", new_prev)
                    finally:
                        self._fresh = None
                elif new_id != longpollid:
                    await self.refresh("longpoll")  # same tip, new transactions
                elif time.monotonic() - started < 0.05:
                    await asyncio.sleep(self.error_backoff)  # a node that never waits
            longpollid, prev = new_id, new_prev

    async def _zmq_loop(self, url: str) -> None:
        ctx = self.zmq_context or zmq.asyncio.Context()
        sock = ctx.socket(zmq.SUB)
        gap = SequenceGap()
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.SUBSCRIBE, HASHBLOCK)
            sock.connect(url)
            self.zmq_ready.set()
            log.info("watcher: subscribed to hashblock at %r", url)
            while True:
                frames = await sock.recv_multipart()
                try:
                    msg = parse_hashblock(frames)
                except ValueError as exc:
                    log.warning("watcher: ignoring a bad ZMQ message from %r: %r", url, str(exc))
                    continue
                missed = gap.observe(msg.sequence)
                if missed:
                    self.zmq_missed += missed
                    log.info("watcher: %d hashblock message(s) lost; the poll covers them", missed)
                with contextlib.suppress(NodeError):  # the poll loop reports outages
                    await self.check("zmq", msg.blockhash)
        finally:
            sock.close(linger=0)
            if self.zmq_context is None:
                ctx.term()

    async def _refresh_loop(self) -> None:
        assert self.refresh_interval is not None
        while True:
            self._timer_reset.clear()
            try:
                await asyncio.wait_for(self._timer_reset.wait(), self.refresh_interval)
            except TimeoutError:
                await self.refresh("timer")
