"""The node side of the pool's start-up: build the node a config names, wait until it
answers, check that it runs the configured network and accepts the payout address, and
fetch templates with retries.

Separate from the controller so each of these start-up rules reads on its own: a refused
password or a wrong network is a configuration mistake reported at once with the key to
fix, while a node that is down or warming up is waited for (up to `startup_timeout`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pool.bitcoin.address import address_to_script
from pool.config import DevnetSection, PoolConfig
from pool.node.base import InvalidAddress, Node, NodeAuthError, NodeError, NodeRPCError
from pool.node.devnet import DevnetNode, bits_for_difficulty
from pool.node.devnet_chain import DevnetChain
from pool.node.rpc import CallObserver, RpcNode

log = logging.getLogger("pool.app")

# What getblockchaininfo's "chain" says on each configured network (Core and bcoin).
_CHAIN_NAMES = {
    "mainnet": "main",
    "testnet": "test",
    "signet": "signet",
    "regtest": "regtest",
    "regtest-core": "regtest",
    "regtest-bcoin": "regtest",
}


class PoolStartupError(RuntimeError):
    """The pool cannot start; the message says what to fix (naming the config key)."""


def build_node(config: PoolConfig, *, on_call: CallObserver | None = None) -> Node:
    """A DevnetNode for ``[node] devnet = true``, an RpcNode (with failover) otherwise;
    `on_call` sees each of the RpcNode's round trips (the pool's node metrics)."""
    section = config.node
    if isinstance(section, DevnetSection):
        chain = DevnetChain(
            bits=bits_for_difficulty(str(section.difficulty)),
            halving_interval=section.halving_interval,
        )
        return DevnetNode(chain, network=config.network, mempool_txs=section.mempool_txs)
    network = config.network

    def decode(address: str) -> bytes:
        return address_to_script(address, network)

    return section.rpc_node(decode_address=decode, on_call=on_call)


async def wait_until_ready(node: Node, timeout: float, sleep: float = 0.5) -> int:
    """The node's height once it answers; NodeAuthError at once (a config mistake),
    PoolStartupError when it is still down or warming up after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: NodeError | None = None
    while True:
        try:
            return await node.getblockcount()
        except NodeAuthError as exc:
            raise PoolStartupError(f"node.urls: {exc}") from None
        except NodeError as exc:
            if last is None or str(exc) != str(last):
                log.warning("waiting for the node: %s", exc)
            last = exc
        if time.monotonic() >= deadline:
            raise PoolStartupError(
                f"node.urls: no usable node after {timeout:g} s (startup_timeout): {last}"
            )
        await asyncio.sleep(sleep)


async def check_network(node: Node, network: str) -> None:
    """Refuse to start when the node's chain is not the configured `network` (a mainnet
    payout address on a regtest node, or the reverse, would waste every block)."""
    if not isinstance(node, RpcNode):
        return
    try:
        info = await node.call("getblockchaininfo")
    except NodeRPCError:
        return  # not offered: nothing to compare
    chain = str(info.get("chain", "")) if isinstance(info, dict) else ""
    expected = _CHAIN_NAMES.get(network)
    known = set(_CHAIN_NAMES.values()) | {"testnet4"}
    if expected and chain in known and chain != expected and not (
        expected == "test" and chain == "testnet4"
    ):
        raise PoolStartupError(
            f"network: the config says {network!r} but the node runs {chain!r}"
        )


async def check_payout_address(node: Node, key: str, address: str) -> bytes:
    """The scriptPubKey the node gives for `address`; a start-up error naming the key
    and the address when the node refuses it."""
    try:
        return await node.address_script(address)
    except InvalidAddress as exc:
        raise PoolStartupError(f"{key}: {exc}") from None


async def fetch_template(
    node: Node,
    *,
    base_delay: float = 0.1,
    max_delay: float = 5.0,
    deadline: float | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> dict[str, Any]:
    """getblocktemplate, retried with backoff while the node is down or warming up.

    Without a `deadline` (time.monotonic) it keeps trying until cancelled: a pool with no
    template has nothing else to do, and the first answer after an outage is the newest
    template anyway. A template the job factory cannot parse is retried the same way."""
    delay = base_delay
    while True:
        try:
            return await node.getblocktemplate()
        except (NodeError, ValueError) as exc:
            if on_error is not None:
                on_error(exc)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            log.warning("getblocktemplate failed (retrying in %.1f s): %s", delay, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
