"""Pool + rigsim miners + the embedded devnet chain: real blocks, accepted by the chain.

The wiring is the same as the pool's: a BlockWatcher on the node publishes a clean job
on every new tip; the server fans it out; miners do real SHA-256d work; block
candidates go to the node's submitblock, whose checks (PoW, merkle root, BIP34,
coinbase value, witness commitment) decide.
"""

from __future__ import annotations

import asyncio
import contextlib

from pool.bitcoin.address import script_to_address
from pool.jobs import JobFactory
from pool.jobs.factory import TemplateWork
from pool.node.devnet import DevnetNode, bits_for_difficulty
from pool.node.watcher import BlockWatcher
from pool.shares.accepted import MemorySink
from pool.stratum.jobfeed import JobFeed
from pool.stratum.server import StratumServer
from rigsim.miner import Miner
from tests.waiting import wait_for

from .stratum_harness import stratum_config

POOL_SCRIPT = bytes.fromhex("0014" + "5a" * 20)
ALICE = script_to_address(bytes.fromhex("0014" + "a1" * 20), "regtest")
BOB = script_to_address(bytes.fromhex("0014" + "b0" * 20), "regtest")


class Pool:
    """The composition pool.app does, reduced to what the test needs."""

    def __init__(self, node: DevnetNode, mode: str) -> None:
        self.node = node
        self.feed = JobFeed(JobFactory(POOL_SCRIPT, tag=b"/surplus-test/"))
        self.sink = MemorySink()
        self.server = StratumServer(
            stratum_config(mode=mode, vardiff={"initial": 2.0**-22}), self.feed, node, self.sink
        )
        self.watcher = BlockWatcher(node, self._new_block, None, poll_interval=0.02,
                                    refresh_interval=None, longpoll=False)
        self._task: asyncio.Task | None = None

    async def _new_block(self, block_hash: str) -> None:
        template = await self.node.getblocktemplate()
        self.feed.publish_template(TemplateWork.from_gbt(template), clean_jobs=True)

    async def __aenter__(self) -> Pool:
        await self._new_block("")
        await self.server.start()
        self._task = asyncio.get_running_loop().create_task(self.watcher.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.server.close(reconnect=False)


async def test_pool_mode_mines_blocks_with_version_rolling():
    node = DevnetNode(bits=bits_for_difficulty(2.0**-18), mempool_txs=5)
    start = node.chain.height
    async with Pool(node, "pool") as pool:
        host, port = pool.server.address
        miner = Miner(host, port, "alice.rig1", hashrate=60_000, version_rolling=True)
        miner.start()
        try:
            await wait_for(lambda: node.chain.height >= start + 3, 20, "three pool blocks")
        finally:
            await miner.stop()
        accepted = [b for b in pool.server.blocks if b.result is None]
        assert len(accepted) >= 3
        assert pool.server.stats.blocks_accepted >= 3
        for found in accepted[:3]:
            info = await node.getblock(found.block_hash)
            stored = node.chain.block_by_hash(bytes.fromhex(found.block_hash)[::-1])
            assert stored is not None and info["height"] == stored.height
            coinbase = stored.block.txs[0]
            assert coinbase.outputs[0].script_pubkey == POOL_SCRIPT
            assert b"/surplus-test/" in coinbase.inputs[0].script_sig
            assert stored.block.header.version & 0x1FFFE000, "rolled version bits in the block"
        first = node.chain.block_at(start + 1)
        assert first is not None and len(first.block.txs) == 6, "mempool transactions included"
        assert any(s.is_block for s in pool.sink.shares)
        assert miner.stats.accepted > 0
        assert pool.server.stats.rejected.get(23, 0) == 0


async def test_solo_mode_pays_the_worker_address():
    node = DevnetNode(bits=bits_for_difficulty(2.0**-18), mempool_txs=2)
    async with Pool(node, "solo") as pool:
        host, port = pool.server.address
        miners = [
            Miner(host, port, f"{ALICE}.rig1", hashrate=40_000),
            Miner(host, port, f"{BOB}.rig2", hashrate=40_000, version_rolling=True),
        ]
        for miner in miners:
            miner.start()
        try:
            await wait_for(lambda: {b.worker for b in pool.server.blocks if b.result is None}
                           >= {f"{ALICE}.rig1", f"{BOB}.rig2"}, timeout=30)
        finally:
            for miner in miners:
                await miner.stop()
        scripts = {ALICE: await node.address_script(ALICE), BOB: await node.address_script(BOB)}
        for found in pool.server.blocks:
            if found.result is not None:
                continue
            stored = node.chain.block_by_hash(bytes.fromhex(found.block_hash)[::-1])
            assert stored is not None
            payee = scripts[found.worker.split(".")[0]]
            assert stored.block.txs[0].outputs[0].script_pubkey == payee


async def test_solo_mode_rejects_a_bad_payout_address(make_server, connect):
    node = DevnetNode()
    server = await make_server(mode="solo", node=node)
    c = await connect(server)
    await c.subscribe()
    msg = await c.call("mining.authorize", ["not-an-address.rig", "x"])
    assert msg["error"][0] == 24 and "Invalid payout address" in msg["error"][1]
    # a submit queued behind the pending authorize is judged after it: unauthorized
    msg = await c.call("mining.submit", ["not-an-address.rig", "1", "00" * 8, "00000000",
                                         "00000000"])
    assert msg["error"][0] == 24


async def test_solo_variant_jobs_pay_each_address_and_catch_duplicates(make_server, connect,
                                                                         feed):
    from .stratum_harness import find_nonce, submit_params

    node = DevnetNode()
    server = await make_server(mode="solo", node=node)
    alice, bob = await connect(server), await connect(server)
    job_a = await alice.handshake(f"{ALICE}.rig1")
    job_b = await bob.handshake(f"{BOB}.rig2")
    assert job_a.job_id != job_b.job_id and job_a.coinb2 != job_b.coinb2
    assert (await node.address_script(ALICE)) in job_a.coinb2
    assert (await node.address_script(BOB)) in job_b.coinb2
    en2 = bytes(7) + b"\x01"
    nonce = find_nonce(job_a, en2, difficulty=alice.difficulty)
    params = submit_params(f"{ALICE}.rig1", job_a, en2, nonce)
    assert (await alice.call("mining.submit", params))["result"] is True
    assert (await alice.call("mining.submit", params))["error"][0] == 22
    # bob's job id is unknown on alice's connection
    params[1] = job_b.job_id
    assert (await alice.call("mining.submit", params))["error"][0] == 21
