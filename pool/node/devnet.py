"""The embedded devnet as a Node: the zero-setup demo's chain and the fast tests'.

`DevnetNode` gives `DevnetChain` the async Node contract (the same one the RPC client
implements), answers like a JSON-RPC node (errors are NodeRPCError with Core's codes),
decodes payout addresses locally, and lets a watcher wait for a new tip without
polling: `wait_for_new_tip` wakes through `loop.call_soon_threadsafe`, so blocks
submitted from any thread wake waiters on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pool.bitcoin.address import address_to_script
from pool.bitcoin.networks import Network, get_network
from pool.bitcoin.target import difficulty_to_target, target_to_bits
from pool.node.base import InvalidAddress, NodeRPCError
from pool.node.devnet_chain import DEFAULT_BITS, DevnetChain
from pool.node.devnet_txs import synthetic_transactions

__all__ = ["DevnetChain", "DevnetNode", "bits_for_difficulty"]

RPC_INVALID_PARAMETER = -8
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_DESERIALIZATION_ERROR = -22


def bits_for_difficulty(difficulty: float | int | str) -> int:
    """Compact nBits for a (possibly fractional) block difficulty, for devnet configs."""
    return target_to_bits(difficulty_to_target(difficulty))


class DevnetNode:
    """The Node contract over an in-process chain."""

    def __init__(
        self,
        chain: DevnetChain | None = None,
        *,
        network: str | Network = "regtest",
        bits: int = DEFAULT_BITS,
        mempool_txs: int = 0,
        longpoll_timeout: float = 30.0,
    ) -> None:
        self.chain = chain if chain is not None else DevnetChain(bits=bits)
        self.network = get_network(network)
        self.longpoll_timeout = longpoll_timeout
        self._fills = 0
        if mempool_txs:
            self.fill_mempool(mempool_txs)

    def fill_mempool(self, count: int, *, seed: int | None = None) -> list[str]:
        """Add `count` synthetic transactions (unique per call) so templates carry some."""
        if seed is None:
            self._fills += 1
            seed = (self.chain.height << 32) | (self._fills << 16) | self.chain.mempool_size
        return [
            self.chain.add_transaction(tx.raw, tx.fee)
            for tx in synthetic_transactions(count, seed=seed)
        ]

    # ------------------------------------------------------------ Node contract

    async def getblocktemplate(self, longpollid: str | None = None) -> dict[str, Any]:
        if longpollid is not None and longpollid == self.chain.longpollid:
            await self._wait(lambda: self.chain.longpollid != longpollid, self.longpoll_timeout)
        return self.chain.template()

    async def submitblock(self, block_hex: str) -> str | None:
        try:
            raw = bytes.fromhex(block_hex)
            return self.chain.submit(raw)
        except ValueError as exc:
            raise NodeRPCError(
                RPC_DESERIALIZATION_ERROR, f"Block decode failed: {exc}", "submitblock", "devnet"
            ) from None

    async def getbestblockhash(self) -> str:
        return self.chain.tip.hash_hex

    async def getblockhash(self, height: int) -> str:
        stored = self.chain.block_at(height)
        if stored is None:
            raise NodeRPCError(
                RPC_INVALID_PARAMETER, "Block height out of range", "getblockhash", "devnet"
            )
        return stored.hash_hex

    async def getblockcount(self) -> int:
        return self.chain.height

    async def getblock(self, blockhash: str, verbosity: int = 1) -> dict[str, Any]:
        info = self.chain.block_info(blockhash, verbosity)
        if info is None:
            raise NodeRPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found", "getblock", "devnet")
        return info

    async def address_script(self, address: str) -> bytes:
        try:
            return address_to_script(address, self.network)
        except ValueError as exc:
            raise InvalidAddress(address, str(exc)) from None

    # --------------------------------------------------------------- tip waits

    async def wait_for_new_tip(self, known_hash: str | None, timeout: float | None = None) -> str:
        """Return the tip hash once it differs from `known_hash` (at once if it already
        does); on timeout return the current tip (which may equal `known_hash`)."""
        await self._wait(lambda: self.chain.tip.hash_hex != known_hash, timeout)
        return self.chain.tip.hash_hex

    async def _wait(self, ready: Callable[[], bool], timeout: float | None) -> None:
        if ready():
            return
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        self.chain.add_change_listener(wake)
        try:
            deadline = None if timeout is None else loop.time() + timeout
            while not ready():
                event.clear()
                if ready():
                    break
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            self.chain.remove_change_listener(wake)
