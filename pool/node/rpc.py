"""The Node contract over JSON-RPC, for Bitcoin Core and bcoin, with failover.

Blocking python-bitcoinrpc calls run in a small thread pool (one proxy per thread), so
the event loop that serves thousands of Stratum connections never waits on the node.
GBT longpolls get their own threads: they block for minutes and must neither starve
ordinary calls nor keep the process alive after cancellation (they are aborted by
shutting their socket down).

Only positional parameters are sent (bcoin rejects named ones), getblock gets
booleans (bcoin does not take 0/1/2), and answers are normalised (``normalize.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from .base import (
    InvalidAddress,
    Node,
    NodeAuthError,
    NodeDown,
    NodeError,
    NodeRPCError,
    NodeWarmingUp,
)
from .normalize import normalize_template, submit_reason
from .retry import Health, HealthTable, RetryPolicy, Transition, backoff_delay
from .transport import (
    RPC_DESERIALIZATION_ERROR,
    RPC_METHOD_NOT_FOUND,
    Abort,
    CallRecord,
    Endpoint,
    LongpollTimeout,
    ThreadChannels,
    timed_call,
)

log = logging.getLogger("pool.node")

CallObserver = Callable[[CallRecord], None]
AddressDecoder = Callable[[str], bytes]

GBT_REQUEST: dict[str, Any] = {"rules": ["segwit"]}


class RpcNode:
    """A ``Node`` backed by one or more JSON-RPC URLs (first = primary).

    ``decode_address`` is the local address decoder used when the node offers no
    ``validateaddress`` scriptPubKey; ``on_call`` receives a ``CallRecord`` for every
    HTTP round trip (method, seconds, ok/error), on the event loop thread.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout: float = 30.0,
        longpoll_timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        workers: int = 4,
        decode_address: AddressDecoder | None = None,
        on_call: CallObserver | None = None,
        name: str = "node",
    ) -> None:
        url_list = [urls] if isinstance(urls, str) else list(urls)
        if not url_list:
            raise ValueError("RpcNode needs at least one node URL")
        self._endpoints = {ep.label: ep for ep in map(Endpoint.parse, url_list)}
        if len(self._endpoints) != len(url_list):
            raise ValueError("RpcNode: the same node URL is listed twice")
        if timeout <= 0 or longpoll_timeout <= 0:
            raise ValueError("RpcNode timeouts must be > 0")
        self.timeout = timeout
        self.longpoll_timeout = longpoll_timeout
        self.retry = retry or RetryPolicy()
        self.name = name
        self._health = HealthTable(tuple(self._endpoints), self.retry)
        self._decode_address = decode_address
        self._on_call = on_call
        self._channels = ThreadChannels()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{name}-rpc")
        self._lp_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-longpoll")
        self._aborts: set[Abort] = set()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    def health(self, endpoint: str) -> Health:
        return self._health.health(endpoint)

    async def close(self) -> None:
        """Abort longpolls in flight and release the worker threads."""
        self._closed = True
        for abort in list(self._aborts):
            abort.abort()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._lp_pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> RpcNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the Node contract -------------------------------------------------------------

    async def getblocktemplate(self, longpollid: str | None = None) -> dict[str, Any]:
        if longpollid is None:
            return normalize_template(await self.call("getblocktemplate", GBT_REQUEST))
        request = {**GBT_REQUEST, "longpollid": longpollid}
        try:
            answer = await self._call(("getblocktemplate", (request,)), longpoll=True)
        except LongpollTimeout:
            answer = await self.call("getblocktemplate", GBT_REQUEST)
        return normalize_template(answer)

    async def submitblock(self, block_hex: str) -> str | None:
        try:
            result = await self.call("submitblock", block_hex)
        except NodeRPCError as exc:
            if exc.code == RPC_DESERIALIZATION_ERROR:
                reason = f"block-decode-failed: {exc.message}"
                log.warning("%s rejected a submitted block: %s", self.name, reason)
                return reason
            raise
        refused = submit_reason(result)
        if refused is not None:
            log.warning("%s rejected a submitted block: %s", self.name, refused)
        return refused

    async def getbestblockhash(self) -> str:
        return str(await self.call("getbestblockhash"))

    async def getblockhash(self, height: int) -> str:
        return str(await self.call("getblockhash", int(height)))

    async def getblockcount(self) -> int:
        return int(await self.call("getblockcount"))

    async def getblock(self, blockhash: str) -> dict[str, Any]:
        return dict(await self.call("getblock", blockhash, True))

    async def getrawblock(self, blockhash: str) -> str:
        """The serialised block as hex (``getblock hash false``; Core and bcoin)."""
        return str(await self.call("getblock", blockhash, False))

    async def address_script(self, address: str) -> bytes:
        try:
            info = await self.call("validateaddress", address)
        except NodeRPCError as exc:
            if exc.code != RPC_METHOD_NOT_FOUND:
                raise
            info = None
        if isinstance(info, dict):
            if not info.get("isvalid", False):
                reason = info.get("error") or f"not valid on the network of {self.name}"
                raise InvalidAddress(address, str(reason))
            script = info.get("scriptPubKey")
            if script:
                return bytes.fromhex(script)
        if self._decode_address is None:
            raise InvalidAddress(
                address, f"{self.name} gives no scriptPubKey and no local decoder is set"
            )
        try:
            return self._decode_address(address)
        except ValueError as exc:
            raise InvalidAddress(address, str(exc)) from None

    # -- generic calls ------------------------------------------------------------------

    async def call(self, method: str, *params: Any) -> Any:
        """Any RPC method with positional parameters, with failover and retries."""
        return await self._call((method, params), longpoll=False)

    async def _call(self, request: tuple[str, tuple[Any, ...]], *, longpoll: bool) -> Any:
        if self._closed:
            raise NodeDown(", ".join(self._endpoints), "client closed")
        method, params = request
        errors: dict[str, NodeError] = {}
        for attempt in range(self.retry.rounds):
            for label in self._health.order(time.monotonic()):
                endpoint = self._endpoints[label]
                result, error = await self._attempt(endpoint, method, params, longpoll)
                if error is None or isinstance(error, (NodeRPCError, LongpollTimeout)):
                    self._report(self._health.record_ok(label))
                    if error is not None:
                        raise error
                    return result
                assert isinstance(error, NodeError)
                errors[label] = error
                self._report(self._failure(label, error))
            if all(isinstance(e, NodeAuthError) for e in errors.values()):
                break  # a wrong password does not get better by waiting
            if attempt + 1 < self.retry.rounds:
                await asyncio.sleep(backoff_delay(self.retry, attempt, random.random()))
        raise _worst(errors)

    async def _attempt(
        self, endpoint: Endpoint, method: str, params: tuple[Any, ...], longpoll: bool
    ) -> tuple[Any, BaseException | None]:
        loop = asyncio.get_running_loop()
        if not longpoll:
            call = partial(self._channels.call, endpoint, method, params, self.timeout)
            fut = loop.run_in_executor(self._pool, timed_call, call, endpoint, method)
            result, error, record = await fut
            self._observe(record)
            return result, error
        abort = Abort()
        self._aborts.add(abort)
        try:
            call = partial(self._channels.call, endpoint, method, params,
                           self.longpoll_timeout, abort=abort)  # fmt: skip
            fut = loop.run_in_executor(self._lp_pool, timed_call, call, endpoint, method)
            try:
                result, error, record = await fut
            except asyncio.CancelledError:
                abort.abort()
                raise
        finally:
            self._aborts.discard(abort)
        self._observe(record)
        return result, error

    def _observe(self, record: CallRecord) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(record)
        except Exception:
            log.exception("%s: the RPC call observer failed", self.name)

    def _failure(self, label: str, error: NodeError) -> Transition | None:
        now = time.monotonic()
        if isinstance(error, NodeAuthError):
            return self._health.record_failure(label, Health.AUTH_REFUSED, str(error), now)
        if isinstance(error, NodeWarmingUp):
            return self._health.record_failure(label, Health.WARMING_UP, error.message, now)
        reason = error.reason if isinstance(error, NodeDown) else str(error)
        return self._health.record_failure(label, Health.DOWN, reason, now)

    def _report(self, change: Transition | None) -> None:
        if change is None:
            return
        others = [e for e in self._endpoints if e != change.endpoint]
        spare = f"; other URLs: {', '.join(others)}" if others else ""
        if change.new is Health.UP:
            log.info("%s %s is up again (was %s)", self.name, change.endpoint, change.old.value)
        elif change.new is Health.AUTH_REFUSED:
            log.error("%s%s", change.detail, spare)
        elif change.new is Health.WARMING_UP:
            log.warning(
                "%s %s is warming up: %s%s", self.name, change.endpoint, change.detail, spare
            )
        else:
            log.warning("%s %s is down: %s%s", self.name, change.endpoint, change.detail, spare)


def _worst(errors: dict[str, NodeError]) -> NodeError:
    """The error most worth showing when every URL failed: a refused password (a
    configuration mistake) before warming up (just wait) before down."""
    for kind in (NodeAuthError, NodeWarmingUp):
        for error in errors.values():
            if isinstance(error, kind):
                return error
    downs = [e for e in errors.values() if isinstance(e, NodeDown)]
    if len(downs) == 1:
        return downs[0]
    if downs:
        where = ", ".join(e.endpoint for e in downs)
        return NodeDown(where, "; ".join(f"{e.endpoint}: {e.reason}" for e in downs))
    return next(iter(errors.values()), NodeDown("?", "no URL tried"))


async def confirm_accepted(node: Node, block_hash: str, height: int) -> bool:
    """True when ``block_hash`` is the node's block at ``height`` (after submitblock)."""
    with contextlib.suppress(NodeRPCError):
        return bool(await node.getblockhash(height) == block_hash)
    return False
