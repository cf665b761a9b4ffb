"""One leader for the ledger across a cluster's processes, on bcoin regtest and
PostgreSQL: exactly one process says so in its metrics; SIGKILL it while blocks wait for
maturity, and another takes over within seconds and brings them to maturity."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from pool.ledger import BlockStatus, LedgerConfig, open_store
from tests.components.bcoin import BcoinNode
from tests.components.postgres import postgres_database
from tests.stratum.stratum_harness import counting_miner
from tests.waiting import wait_for

from .cluster_process import ClusterProcess, cluster_config, leaders

pytestmark = [pytest.mark.integration]

def pending_blocks(dsn: str, fee: str) -> int:
    store = open_store(LedgerConfig(backend="postgres", dsn=dsn, fee_account=fee))
    try:
        return len(store.blocks(BlockStatus.PENDING))
    finally:
        store.close()


def block_statuses(dsn: str, fee: str) -> Counter[str]:
    store = open_store(LedgerConfig(backend="postgres", dsn=dsn, fee_account=fee))
    try:
        return Counter(b.status.value for b in store.blocks())
    finally:
        store.close()


async def test_the_leader_dies_and_another_takes_over(bcoin_fresh: BcoinNode,
                                                      tmp_path: Path) -> None:
    bcoin = bcoin_fresh  # a chain of its own: its blocks and heights are this test's
    payout = await asyncio.to_thread(bcoin.new_address)
    with postgres_database() as dsn:
        text = cluster_config(url=bcoin.rpc_url, dsn=dsn, payout=payout,
                              accounts={"alice": payout}, top="ledger_interval = 0.5",
                              ledger="maturity = 2")  # fmt: skip
        with ClusterProcess(tmp_path, text) as cluster:
            await asyncio.wait_for(asyncio.to_thread(cluster.start), 150)

            async def one_leader() -> int:
                seen: dict[int, float] = {}

                def exactly_one() -> bool:
                    seen.clear()
                    seen.update(leaders(cluster))
                    return len(seen) == 2 and sorted(seen.values()) == [0.0, 1.0]

                await wait_for(exactly_one, 30, lambda: f"exactly one leader: {seen}",
                               interval=0.2)  # fmt: skip
                return next(i for i, v in seen.items() if v == 1.0)

            first = await one_leader()
            # Blocks found by the pool wait for maturity (2 confirmations). A share is a
            # block only by chance at the starting difficulty (below regtest's), so the
            # miner mines until one is pending; the pool's newest block stays pending
            # once it stops, as nothing else mines on this chain.
            acked: Counter[str] = Counter()
            miner = counting_miner("127.0.0.1", cluster.port, "alice.rig1", acked, hashrate=2.0)
            try:
                await wait_for(lambda: pending_blocks(dsn, payout) > 0, 90,
                               lambda: f"a pool block pending in the ledger; shares "
                               f"{acked}; blocks {block_statuses(dsn, payout)}; log:\n"
                               f"{cluster.log()[-4000:]}", interval=0.2)  # fmt: skip
            finally:
                await miner.stop()
            assert pending_blocks(dsn, payout) > 0

            pid = cluster.workers()[first][0]
            os.kill(pid, signal.SIGKILL)
            await wait_for(lambda: leaders(cluster).get(1 - first) == 1.0
                           or f"pool process {first} is back" in cluster.log(), 30,
                           "a new leader", interval=0.2)  # fmt: skip
            await one_leader()
            assert "now leads the ledger (node 7, process" in cluster.log()
            await asyncio.to_thread(bcoin.mine, 3, payout)
            await wait_for(lambda: pending_blocks(dsn, payout) == 0, 30,
                           "the new leader brings the blocks to maturity",
                           interval=0.2)  # fmt: skip
            assert await asyncio.to_thread(cluster.terminate) == 0
        store = open_store(LedgerConfig(backend="postgres", dsn=dsn, fee_account=payout))
        try:
            statuses = Counter(block.status for block in store.blocks())
        finally:
            store.close()
    assert statuses[BlockStatus.CONFIRMED] >= 1, statuses
