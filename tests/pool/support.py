"""Shared pieces of the pool tests: configs, miners driven to a height, reading blocks
back from a real node, and the PostgreSQL database a test creates and drops."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from pool.bitcoin.serialize import bip34_height
from pool.bitcoin.target import bits_to_target, target_to_difficulty
from pool.config import PoolConfig, parse
from rigsim.miner import Miner
from tests.components.bcoin import ROOT
from tests.waiting import wait_for

SATS = Decimal(100_000_000)
WITNESS_COMMITMENT_PREFIX = "6a24aa21a9ed"
PG_ADMIN_DSN = os.environ.get("SURPLUS_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres")
# Every hash is a share at this difficulty (its target clamps to 2**256 - 1), and about
# every other hash is a regtest block: the fastest way through hundreds of blocks.
REGTEST_SHARE_DIFFICULTY = 1e-10


LISTENING = re.compile(r"stratum listening on ([\d.]+):(\d+)")


def start_pool(config: Path, log: Path) -> tuple[subprocess.Popen[str], int]:
    """`surplus pool --config` as its own process (stderr to `log`); returns it and its
    Stratum port once it says miners can connect."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "surplus.cli", "pool", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the pool prints this line once miners can connect
        match = LISTENING.search(line)
        if match:
            return proc, int(match.group(2))
    proc.wait(10)
    raise AssertionError(f"the pool exited ({proc.returncode}):\n{log.read_text()[-3000:]}")


def pool_config(**values: Any) -> PoolConfig:
    """A validated PoolConfig from plain values (port 0, no vardiff by default)."""
    values.setdefault("stratum", {})
    values["stratum"].setdefault("port", 0)
    values["stratum"].setdefault(
        "vardiff", {"enabled": False, "initial": REGTEST_SHARE_DIFFICULTY, "minimum": 1e-12}
    )
    return parse(values, "test-config")


class Rigs:
    """Miners that mine only while asked: `mine_to(height)` resumes them until the node
    reaches the height, then pauses them (so the test can fill the mempool between)."""

    def __init__(self, node: Any, miners: list[Miner]) -> None:
        self.node = node
        self.miners = miners

    async def start(self) -> None:
        for miner in self.miners:
            miner.pause()
            miner.start()
        for miner in self.miners:
            await asyncio.wait_for(miner.connected.wait(), 20)

    async def height(self) -> int:
        return int(await asyncio.to_thread(self.node.rpc, "getblockcount"))

    async def mine_to(self, height: int, timeout: float = 120.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for miner in self.miners:
            miner.resume()
        try:
            while (now := await self.height()) < height:
                if loop.time() > deadline:
                    raise AssertionError(f"mining stalled at height {now} (wanted {height})")
                await asyncio.sleep(0.05)
        finally:
            for miner in self.miners:
                miner.pause()
        for miner in self.miners:  # shares (and blocks) in flight land
            await wait_for(lambda m=miner: m.idle, 30, "the paused miners' shares in flight")
        return await self.height()

    async def stop(self) -> None:
        for miner in self.miners:
            await miner.stop()


def full_block(node: Any, height: int) -> dict[str, Any]:
    """getblock with full transactions (bcoin takes booleans)."""
    return dict(node.rpc("getblock", node.rpc("getblockhash", height), True, True))


def coinbase_script_sig(block: dict[str, Any]) -> bytes:
    return bytes.fromhex(block["tx"][0]["vin"][0]["coinbase"])


def coinbase_outputs(block: dict[str, Any]) -> list[tuple[str, int]]:
    """(scriptPubKey hex, satoshis) of the coinbase outputs, exactly."""
    return [
        (out["scriptPubKey"]["hex"], int(Decimal(str(out["value"])) * SATS))
        for out in block["tx"][0]["vout"]
    ]


def block_reward(block: dict[str, Any]) -> int:
    return sum(value for _, value in coinbase_outputs(block))


def block_difficulty(block: dict[str, Any]) -> Fraction:
    bits = block["bits"]
    bits = int(bits, 16) if isinstance(bits, str) else int(bits)
    return target_to_difficulty(bits_to_target(bits))


def assert_our_coinbase(block: dict[str, Any], tag: bytes, payout_script: str) -> None:
    """BIP34 height first, our tag in the scriptSig, the first output pays `payout_script`."""
    script_sig = coinbase_script_sig(block)
    height_push = bip34_height(block["height"])
    assert script_sig.startswith(height_push), (block["height"], script_sig.hex())
    assert tag in script_sig, (block["height"], script_sig)
    outputs = coinbase_outputs(block)
    assert outputs[0][0] == payout_script, (block["height"], outputs)


def has_witness_commitment(block: dict[str, Any]) -> bool:
    return any(s.startswith(WITNESS_COMMITMENT_PREFIX) for s, _ in coinbase_outputs(block))


def segwit_txs(block: dict[str, Any]) -> list[str]:
    """txids of the block's non-coinbase transactions that carry witness data."""
    return [tx["txid"] for tx in block["tx"][1:] if tx.get("hash", tx["txid"]) != tx["txid"]]
