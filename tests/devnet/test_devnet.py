"""The embedded devnet: mining real jobs, and every rejection it answers with."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable

import pytest

from hashing import scan_nonces, sha256d
from pool.bitcoin.block import Block, BlockHeader
from pool.bitcoin.hashes import id_to_hex
from pool.bitcoin.merkle import merkle_root
from pool.bitcoin.target import DIFF1_TARGET, bits_to_target
from pool.bitcoin.tx import Tx, TxIn, TxOut
from pool.jobs.coinbase import Payout
from pool.jobs.factory import JobFactory
from pool.jobs.job import Job
from pool.node.base import InvalidAddress, Node, NodeRPCError
from pool.node.devnet import DevnetNode, bits_for_difficulty
from pool.node.devnet_chain import INITIAL_SUBSIDY, DevnetChain
from pool.node.devnet_txs import synthetic_transactions

PAYOUT = "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9"
TAG = b"/surplus-devnet-test/"
EN1 = bytes.fromhex("0000002a")


def solve(header76: bytes, target: int, *, want_valid: bool = True) -> bytes:
    """Find a nonce whose header meets (or, for high-hash tests, misses) the target."""
    for start in range(0, 1 << 32, 4096):
        if want_valid:
            found = scan_nonces(header76, target, start, 4096)
            if found:
                return header76 + found[0].to_bytes(4, "little")
        else:
            for nonce in range(start, start + 4096):
                header = header76 + nonce.to_bytes(4, "little")
                if int.from_bytes(sha256d(header), "little") > target:
                    return header
    raise AssertionError("no nonce found")


def mine_job(
    job: Job,
    en2: bytes = bytes(8),
    *,
    ntime: int | None = None,
    version: int | None = None,
    target: int | None = None,
) -> bytes:
    """The full block for `job`, with a header that meets the network target."""
    header = job.header(
        EN1,
        en2,
        job.ntime if ntime is None else ntime,
        0,
        job.version if version is None else version,
    )
    solved = solve(header[:76], job.network_target if target is None else target)
    return job.block(EN1, en2, solved)


def regrind(block: Block, target: int) -> bytes:
    """Recompute the merkle root of a hand-made block and solve its header."""
    h = block.header
    header = BlockHeader(
        h.version, h.prevhash, merkle_root([tx.txid for tx in block.txs]), h.time, h.bits, 0
    )
    solved = BlockHeader.parse(solve(header.serialize()[:76], target))
    return Block(solved, block.txs).serialize()


@pytest.fixture
def node() -> DevnetNode:
    return DevnetNode(mempool_txs=30)


async def factory_for(node: DevnetNode) -> JobFactory:
    return JobFactory([Payout(await node.address_script(PAYOUT))], tag=TAG)


async def job_from(node: DevnetNode, edit: Callable[[dict], None] | None = None) -> Job:
    template = await node.getblocktemplate()
    if edit is not None:
        template = copy.deepcopy(template)
        edit(template)
    return (await factory_for(node)).from_template(template)


def test_devnet_node_satisfies_the_node_protocol(node: DevnetNode) -> None:
    assert isinstance(node, Node)


async def test_mine_a_block_with_transactions_and_read_it_back(node: DevnetNode) -> None:
    genesis = await node.getbestblockhash()
    template = await node.getblocktemplate()
    assert len(template["transactions"]) == 30
    assert any(t["txid"] != t["hash"] for t in template["transactions"])  # witness txs
    job = (await factory_for(node)).from_template(template)
    block = mine_job(job)
    assert await node.submitblock(block.hex()) is None
    header = block[:80]
    block_hash = id_to_hex(sha256d(header))
    assert await node.getblockcount() == 1
    assert await node.getbestblockhash() == block_hash == await node.getblockhash(1)
    info = await node.getblock(block_hash)
    assert info["height"] == 1 and info["nTx"] == 31
    assert info["previousblockhash"] == genesis
    assert info["tx"][1:] == [t["txid"] for t in template["transactions"]]
    coinbase = Tx.parse(job.coinbase(EN1, bytes(8)))
    assert info["tx"][0] == id_to_hex(coinbase.txid)
    full = await node.getblock(block_hash, 2)
    assert TAG.hex() in full["tx"][0]["hex"]
    assert (await node.getblock(genesis))["nextblockhash"] == block_hash
    assert node.chain.mempool_size == 0
    nxt = await node.getblocktemplate()
    assert nxt["height"] == 2 and nxt["transactions"] == []
    assert nxt["coinbasevalue"] == INITIAL_SUBSIDY


async def test_a_chain_of_blocks_and_halvings() -> None:
    node = DevnetNode(DevnetChain(halving_interval=5))
    factory = await factory_for(node)
    for height in range(1, 13):
        if height % 3 == 0:
            node.fill_mempool(4)
        template = await node.getblocktemplate()
        fees = sum(t["fee"] for t in template["transactions"])
        assert template["coinbasevalue"] == (INITIAL_SUBSIDY >> (height // 5)) + fees
        job = factory.from_template(template)
        assert await node.submitblock(mine_job(job, height.to_bytes(8, "big")).hex()) is None
    assert await node.getblockcount() == 12


async def test_easy_fractional_difficulty_devnet() -> None:
    bits = bits_for_difficulty("0.000001")
    assert bits_for_difficulty(1) == 0x1D00FFFF
    node = DevnetNode(bits=bits)
    template = await node.getblocktemplate()
    assert int(template["target"], 16) == bits_to_target(bits) >= DIFF1_TARGET * 999_000
    job = (await factory_for(node)).from_template(template)
    assert await node.submitblock(mine_job(job).hex()) is None


# ---------------------------------------------------------------- rejections


async def test_high_hash(node: DevnetNode) -> None:
    job = await job_from(node)
    header = job.header(EN1, bytes(8), job.ntime, 0, job.version)
    bad = solve(header[:76], job.network_target, want_valid=False)
    assert await node.submitblock(job.block(EN1, bytes(8), bad).hex()) == "high-hash"


async def test_bad_merkle_root(node: DevnetNode) -> None:
    job = await job_from(node)
    good = Block.parse(mine_job(job))
    h = good.header
    wrong = BlockHeader(h.version, h.prevhash, bytes(32), h.time, h.bits, 0)
    solved = solve(wrong.serialize()[:76], job.network_target)
    raw = solved + good.serialize()[80:]
    assert await node.submitblock(raw.hex()) == "bad-txnmrklroot"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda t: t.update(height=t["height"] + 1), "bad-cb-height"),
        (lambda t: t.update(coinbasevalue=t["coinbasevalue"] + 1), "bad-cb-amount"),
        (lambda t: t.update(previousblockhash="11" * 32), "bad-prevblk"),
        (
            lambda t: t.update(
                default_witness_commitment=t["default_witness_commitment"][:-2] + "00"
            ),
            "bad-witness-merkle-match",
        ),
        (
            lambda t: (t.pop("default_witness_commitment"), t.update(rules=["csv"])),
            "unexpected-witness",
        ),
        (lambda t: t.update(version=1), "bad-version(0x00000001)"),
    ],
    ids=["cb-height", "cb-amount", "prevblk", "witness-merkle", "unexpected-witness", "version"],
)
async def test_template_tampering_is_rejected(
    node: DevnetNode, edit: Callable[[dict], None], reason: str
) -> None:
    job = await job_from(node, edit)
    assert await node.submitblock(mine_job(job).hex()) == reason
    assert await node.getblockcount() == 0


async def test_bad_diffbits(node: DevnetNode) -> None:
    job = await job_from(node, lambda t: t.update(bits="2000ffff", target=f"{0xFFFF << 232:064x}"))
    assert job.network_target == bits_to_target(0x2000FFFF)
    assert await node.submitblock(mine_job(job).hex()) == "bad-diffbits"


async def test_times(node: DevnetNode) -> None:
    job = await job_from(node)
    too_old = mine_job(job, ntime=job.min_time - 1)
    assert await node.submitblock(too_old.hex()) == "time-too-old"
    too_new = mine_job(job, ntime=int(time.time()) + 7200 + 60)
    assert await node.submitblock(too_new.hex()) == "time-too-new"


async def test_duplicate_and_stale_parent(node: DevnetNode) -> None:
    job = await job_from(node)
    first = mine_job(job, b"\x01" * 8)
    second = mine_job(job, b"\x02" * 8)  # same parent, another extranonce
    assert await node.submitblock(first.hex()) is None
    assert await node.submitblock(first.hex()) == "duplicate"
    assert await node.submitblock(second.hex()) == "inconclusive-not-best-prevblk"


async def test_rejected_block_is_remembered(node: DevnetNode) -> None:
    job = await job_from(node, lambda t: t.update(coinbasevalue=t["coinbasevalue"] + 1))
    raw = mine_job(job)
    assert await node.submitblock(raw.hex()) == "bad-cb-amount"
    assert await node.submitblock(raw.hex()) == "duplicate-invalid"


async def test_coinbase_witness_nonce_missing(node: DevnetNode) -> None:
    block = Block.parse(mine_job(await job_from(node)))
    cb = block.txs[0]
    bare = Tx(
        cb.version,
        (TxIn(cb.inputs[0].prev_txid, cb.inputs[0].prev_index, cb.inputs[0].script_sig),),
        cb.outputs,
        cb.locktime,
    )
    raw = regrind(Block(block.header, (bare, *block.txs[1:])), bits_to_target(block.header.bits))
    assert await node.submitblock(raw.hex()) == "bad-witness-nonce-size"


async def test_unknown_transaction(node: DevnetNode) -> None:
    stranger = synthetic_transactions(1, seed=999, witness_every=0)[0]
    tx = Tx.parse(stranger.raw)

    def add(template: dict) -> None:
        template["transactions"].append(
            {
                "data": stranger.raw.hex(),
                "txid": id_to_hex(tx.txid),
                "hash": id_to_hex(tx.wtxid),
                "fee": stranger.fee,
            }
        )
        del template["default_witness_commitment"]  # the factory recomputes it

    job = await job_from(node, add)
    assert await node.submitblock(mine_job(job).hex()) == "bad-txns-inputs-missingorspent"


async def test_coinbase_shape_rejections(node: DevnetNode) -> None:
    block = Block.parse(mine_job(await job_from(node)))
    target = bits_to_target(block.header.bits)
    coinbase, first, *rest = block.txs
    no_coinbase = regrind(Block(block.header, (first, *rest)), target)
    assert await node.submitblock(no_coinbase.hex()) == "bad-cb-missing"
    extra_cb = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\x51\x51"),), (TxOut(0, b"\x6a"),))
    two = regrind(Block(block.header, (coinbase, extra_cb, first, *rest)), target)
    assert await node.submitblock(two.hex()) == "bad-cb-multiple"
    dup = regrind(Block(block.header, (coinbase, first, first, *rest)), target)
    assert await node.submitblock(dup.hex()) == "bad-txns-duplicate"
    assert await node.getblockcount() == 0


async def test_undecodable_block_is_an_rpc_error(node: DevnetNode) -> None:
    for bad in ("zz", "00" * 80, mine_job(await job_from(node))[:-1].hex()):
        with pytest.raises(NodeRPCError) as err:
            await node.submitblock(bad)
        assert err.value.code == -22 and "decode" in err.value.message


# ------------------------------------------------------------- RPC surface


async def test_rpc_errors(node: DevnetNode) -> None:
    with pytest.raises(NodeRPCError) as err:
        await node.getblockhash(5)
    assert err.value.code == -8
    with pytest.raises(NodeRPCError) as err:
        await node.getblock("00" * 32)
    assert err.value.code == -5
    info = await node.getblock(await node.getblockhash(0))
    assert info["height"] == 0 and "previousblockhash" not in info


async def test_address_script_decodes_core_and_bcoin_styles(node: DevnetNode) -> None:
    script = await node.address_script(PAYOUT)
    assert script.hex() == "00146f58bac9506f9bfb821d62e69330410bb56f0085"
    assert len(await node.address_script("mfhE6jAUwjUDNZhaX1PAsDTKfneQF2Nshc")) == 25
    with pytest.raises(InvalidAddress, match="bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv"):
        await node.address_script("bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv")


def test_genesis_is_deterministic() -> None:
    assert DevnetChain().genesis_hash == DevnetChain().genesis_hash
    assert DevnetChain(bits=0x1F00FFFF).genesis_hash != DevnetChain().genesis_hash


def test_mempool_rules() -> None:
    chain = DevnetChain()
    tx = synthetic_transactions(1)[0]
    chain.add_transaction(tx.raw, tx.fee)
    with pytest.raises(ValueError, match="already known"):
        chain.add_transaction(tx.raw, tx.fee)
    with pytest.raises(ValueError, match="negative"):
        chain.add_transaction(tx.raw, -1)
    cb = Tx(1, (TxIn(bytes(32), 0xFFFFFFFF, b"\x51\x51"),), (TxOut(0, b"\x6a"),))
    with pytest.raises(ValueError, match="coinbase"):
        chain.add_transaction(cb.serialize(), 0)
    with pytest.raises(ValueError, match="segwit"):
        DevnetChain(segwit=False).add_transaction(synthetic_transactions(1)[0].raw, 1)


# ------------------------------------------------------------ tip waiting


async def test_longpoll_returns_on_new_block(node: DevnetNode) -> None:
    template = await node.getblocktemplate()
    job = (await factory_for(node)).from_template(template)
    raw = mine_job(job)

    async def submit_later() -> None:
        await asyncio.sleep(0.05)
        assert await node.submitblock(raw.hex()) is None

    task = asyncio.create_task(submit_later())
    async with asyncio.timeout(20):  # woken by the block, not the node's 30 s longpoll timeout
        fresh = await node.getblocktemplate(template["longpollid"])
    await task
    assert fresh["height"] == 2


async def test_longpoll_times_out_with_the_same_work() -> None:
    node = DevnetNode(longpoll_timeout=0.05)
    template = await node.getblocktemplate()
    again = await node.getblocktemplate(template["longpollid"])
    assert again["previousblockhash"] == template["previousblockhash"]


async def test_longpoll_wakes_on_mempool_change(node: DevnetNode) -> None:
    template = await node.getblocktemplate()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, node.fill_mempool, 2)
    fresh = await node.getblocktemplate(template["longpollid"])
    assert len(fresh["transactions"]) == 32


async def test_wait_for_new_tip_wakes_from_another_thread(node: DevnetNode) -> None:
    tip = await node.getbestblockhash()
    raw = mine_job(await job_from(node))
    thread = threading.Timer(0.05, node.chain.submit, args=(raw,))
    thread.start()
    async with asyncio.timeout(30):  # woken by the block: its own 300 s timeout never ends it
        new_tip = await node.wait_for_new_tip(tip, timeout=300)
    thread.join()
    assert new_tip != tip and new_tip == id_to_hex(sha256d(raw[:80]))
    assert await node.wait_for_new_tip(tip, timeout=0) == new_tip  # already moved
    assert await node.wait_for_new_tip(new_tip, timeout=0.02) == new_tip  # timed out


def test_sync_wait_and_listeners() -> None:
    chain = DevnetChain()
    node = DevnetNode(chain)
    seen: list[tuple[int, str]] = []
    chain.add_listener(lambda h, bh: seen.append((h, bh)))
    version = chain.tip_version
    job = JobFactory(bytes.fromhex("51")).from_template(chain.template())
    raw = mine_job(job)
    threading.Timer(0.02, chain.submit, args=(raw,)).start()
    assert chain.wait_for_tip_change(version, timeout=5) == version + 1
    assert seen == [(1, chain.tip.hash_hex)]
    assert node.chain is chain
