"""Templates and block submission against a real bcoin regtest node (one per module).

The tests run in file order on one chain: before segwit activation first, then after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pool.node import RpcNode, confirm_accepted
from tests.components.bcoin import SEGWIT_HEIGHT, BcoinNode

from .blocks import block_hash, coinbase_only_block, grind, sha256d

pytestmark = pytest.mark.integration

HALVING = 150  # regtest


def subsidy(height: int) -> int:
    return 50 * 100_000_000 >> (height // HALVING)


@pytest.fixture
async def node(bcoin_module: BcoinNode) -> AsyncIterator[RpcNode]:
    async with RpcNode(bcoin_module.rpc_url) as n:
        yield n


async def test_template_before_segwit_has_no_rules_and_no_commitment(
    bcoin_module: BcoinNode, node: RpcNode
) -> None:
    if bcoin_module.height >= SEGWIT_HEIGHT - 1:
        pytest.fail("this module's chain must still be below segwit activation here")
    await asyncio.to_thread(bcoin_module.mine, 5)
    tpl = await node.getblocktemplate()
    count = await node.getblockcount()
    assert tpl["rules"] == []
    assert "default_witness_commitment" not in tpl  # bcoin sends one; it must not be used
    assert tpl["height"] == count + 1
    assert tpl["previousblockhash"] == await node.getbestblockhash()
    assert tpl["coinbasevalue"] == subsidy(count + 1)
    assert isinstance(tpl["version"], int) and tpl["version"] & 0x20000000
    assert len(tpl["bits"]) == 8 and int(tpl["bits"], 16) == 0x207FFFFF
    assert int(tpl["target"], 16) == 0x7FFFFF << 232
    assert tpl["mintime"] <= tpl["curtime"]
    assert isinstance(tpl["longpollid"], str) and tpl["longpollid"].startswith(
        tpl["previousblockhash"]
    )
    assert tpl["transactions"] == []


async def test_submitblock_accepts_a_good_block_and_names_each_bad_one(
    bcoin_module: BcoinNode, node: RpcNode
) -> None:
    script = await node.address_script(await asyncio.to_thread(bcoin_module.wallet_address))
    tpl = await node.getblocktemplate()

    good = coinbase_only_block(tpl, script)
    assert await node.submitblock(good.hex()) is None
    good_hash = block_hash(good[:80])
    assert await confirm_accepted(node, good_hash, tpl["height"])
    assert await node.getbestblockhash() == good_hash
    info = await node.getblock(good_hash)
    assert info["height"] == tpl["height"] and len(info["tx"]) == 1
    assert await node.getrawblock(good_hash) == good.hex()

    assert await node.submitblock(good.hex()) == "duplicate"

    tpl = await node.getblocktemplate()
    weak = coinbase_only_block(tpl, script, meet=False)
    assert await node.submitblock(weak.hex()) == "high-hash"
    assert not await confirm_accepted(node, block_hash(weak[:80]), tpl["height"])

    honest = coinbase_only_block(tpl, script)
    bad_root = bytearray(honest)
    bad_root[36] ^= 0xFF  # first byte of the merkle root
    hdr = grind(bytes(bad_root[:80]), int(tpl["target"], 16), meet=True)
    assert await node.submitblock((hdr + bytes(bad_root[80:])).hex()) == "bad-txnmrklroot"

    reason = await node.submitblock("00")
    assert reason is not None and reason.startswith("block-decode-failed")
    assert await node.getbestblockhash() == good_hash


async def test_template_after_segwit_carries_rules_commitment_and_mempool_txs(
    bcoin_module: BcoinNode, node: RpcNode
) -> None:
    await asyncio.to_thread(bcoin_module.activate_segwit)
    await asyncio.to_thread(bcoin_module.mine, 1)
    txids = await asyncio.to_thread(bcoin_module.fill_mempool, 8)
    tpl = await node.getblocktemplate()
    assert "segwit" in tpl["rules"] or "!segwit" in tpl["rules"]
    assert tpl["default_witness_commitment"].startswith("6a24aa21a9ed")
    assert len(tpl["default_witness_commitment"]) == 76

    by_txid = {tx["txid"]: tx for tx in tpl["transactions"]}
    assert set(txids) <= set(by_txid)
    segwit = 0
    for tx in tpl["transactions"]:
        raw = bytes.fromhex(tx["data"])
        assert sha256d(raw)[::-1].hex() == tx["hash"]  # hash is the wtxid of the data
        assert isinstance(tx["fee"], int) and tx["fee"] > 0
        segwit += tx["hash"] != tx["txid"]
    assert segwit >= 2, "fill_mempool should have produced segwit spends"
    fees = sum(tx["fee"] for tx in tpl["transactions"])
    assert tpl["coinbasevalue"] == subsidy(tpl["height"]) + fees
