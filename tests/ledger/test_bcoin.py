"""The ledger against a real bcoin regtest node: a real reorg orphans a found block while
another matures after 100 confirmations, and a payout sent through bcoin's wallet is
reconciled after a crash between send and record without a second send."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from pool.ledger import BlockStatus, FoundBlock, Ledger, PayoutStatus, commands, open_store
from pool.ledger.accounting import block_subsidy
from pool.ledger.payouts import run_payouts
from pool.ledger.wallet import NodeWalletAdapter, sent_outputs
from pool.node.wallet import WalletClient
from tests.components.bcoin import BcoinNode

from .conftest import MakeConfig
from .factories import share

pytestmark = pytest.mark.integration
REGTEST_HALVING = 150


class BcoinChain:
    """The two calls maturity needs, answered by the real node (RPC in a thread)."""

    def __init__(self, node: BcoinNode) -> None:
        self.node = node

    async def getblockcount(self) -> int:
        return int(await asyncio.to_thread(self.node.rpc, "getblockcount"))

    async def getblockhash(self, height: int) -> str:
        return str(await asyncio.to_thread(self.node.rpc, "getblockhash", height))


async def test_real_reorg_orphans_and_maturity_confirms(
    bcoin_module: BcoinNode, make_config: MakeConfig
) -> None:
    node = bcoin_module
    miner = await asyncio.to_thread(node.new_address)
    config = make_config(scheme="prop", fee_percent=0)
    async with await Ledger.open(config) as ledger:
        found_ids = []
        for account in ("keeper", "loser"):
            share_id = await ledger.record_share(share(account, 1, is_block=True))
            (block_hash,) = await asyncio.to_thread(node.mine, 1, miner)
            height = await asyncio.to_thread(lambda: node.height)
            reward = block_subsidy(height, REGTEST_HALVING)
            found_ids.append((await ledger.record_block(FoundBlock(
                height=height, hash=block_hash, reward=reward, share_id=share_id,
                account=account, worker="rig", network_difficulty=Fraction(1, 2**31),
            ))).id)
        keeper, loser = (b for b in sorted(await ledger.blocks(), key=lambda b: b.height))
        # reorg: bcoin drops the second block, a longer branch is mined at its height
        await asyncio.to_thread(node.rpc, "invalidateblock", loser.hash)
        await asyncio.to_thread(node.mine, 2, miner)
        chain = BcoinChain(node)
        assert await chain.getblockhash(loser.height) != loser.hash
        changed = await ledger.update_blocks(chain)
        assert [(b.hash, s) for b, s in changed] == [(loser.hash, BlockStatus.ORPHANED)]
        # the kept block is pending until it has 100 confirmations, then confirmed
        await asyncio.to_thread(node.mine_to_height, keeper.height + 98, miner)
        assert await ledger.update_blocks(chain) == []
        await asyncio.to_thread(node.mine, 1, miner)
        changed = await ledger.update_blocks(chain)
        assert [(b.hash, s) for b, s in changed] == [(keeper.hash, BlockStatus.CONFIRMED)]
        balances = {r.account: (r.immature, r.payable) for r in await ledger.balances()}
        assert balances["keeper"] == (0, keeper.reward)
        assert balances["loser"] == (0, 0)  # orphaned credits never become payable


def test_payout_through_bcoin_wallet_is_reconciled_not_resent(
    bcoin_module: BcoinNode, make_config: MakeConfig
) -> None:
    node = bcoin_module
    node.fund_wallet()
    alice, bob, fee = node.new_address(), node.new_address(), node.new_address()
    config = make_config(scheme="prop", fee_percent=0, fee_account=fee, min_payout_sat=1000)
    store = open_store(config)
    try:
        ids = store.insert_shares([share(alice, 3), share(bob, 1)])
        block = store.record_block(FoundBlock(
            height=1, hash="cd" * 32, reward=4_000_000, share_id=ids[-1], account=bob,
            worker="rig", network_difficulty=Fraction(1),
        ))
        store.set_block_status(block.id, BlockStatus.CONFIRMED)
        wallet = NodeWalletAdapter(WalletClient(node.wallet_url, flavor="bcoin"))
        # the process sends and dies before recording the txid
        batch = store.create_batch(1000)
        assert batch is not None and batch.outputs == {alice: 3_000_000, bob: 1_000_000}
        txid = wallet.sendmany(dict(batch.outputs))
        # restart: reconcile from bcoin's own transaction list
        report = run_payouts(store, wallet, 1000)
        assert [(r.txid, r.how) for r in report.reconciled] == [(txid, "found in wallet")]
        assert report.batch is None
        (recorded,) = store.batches()
        assert (recorded.status, recorded.txid) == (PayoutStatus.SENT, txid)
        sends = sent_outputs(wallet.list_transactions())
        paying = [t for t, outs in sends.items() if alice in outs or bob in outs]
        assert paying == [txid]  # one transaction ever paid them
        assert sends[txid][alice] == 3_000_000 and sends[txid][bob] == 1_000_000
        rows = {r.account: (r.payable, r.pending, r.paid) for r in store.balances()}
        assert rows[alice] == (0, 0, 3_000_000) and rows[bob] == (0, 0, 1_000_000)
    finally:
        store.close()


async def test_ledger_pays_through_the_node_wallet_client(
    bcoin_module: BcoinNode, make_config: MakeConfig
) -> None:
    node = bcoin_module
    await asyncio.to_thread(node.fund_wallet)
    carol = await asyncio.to_thread(node.new_address)
    fee = await asyncio.to_thread(node.new_address)
    config = make_config(scheme="prop", fee_percent=1, fee_account=fee, min_payout_sat=1000)
    async with await Ledger.open(config) as ledger, WalletClient(
        node.wallet_url, flavor="bcoin"
    ) as client:
        share_id = await ledger.record_share(share(carol, 1))
        block = await ledger.record_block(FoundBlock(
            height=1, hash="ef" * 32, reward=2_000_000, share_id=share_id, account=carol,
            worker="rig", network_difficulty=Fraction(1),
        ))
        await asyncio.to_thread(ledger.store.set_block_status, block.id, BlockStatus.CONFIRMED)
        preview = await ledger.payouts(None, dry_run=True)
        assert preview.due == {carol: 1_980_000, fee: 20_000}
        report = await ledger.payouts(client)
        assert report.batch is not None and report.txid is not None
        tx = await client.call("gettransaction", report.txid)
        paid = {d["address"]: round(d["amount"] * 100_000_000) for d in tx["details"]}
        assert paid == {carol: 1_980_000, fee: 20_000}
        again = await ledger.payouts(client)
        assert again.batch is None and again.reconciled == []


def test_bcoin_refusing_one_address_never_stops_the_payouts(
    bcoin_module: BcoinNode, make_config: MakeConfig
) -> None:
    """Accounts as miners could name them under the pool's `regtest` network: two bcoin
    addresses, one written in Bitcoin Core's spelling (valid for the network, refused by
    bcoin's sendmany with -5), one that is no address at all. The pool's AccountBook
    quarantines the second before any batch; bcoin refuses the first, which is isolated
    and quarantined; everybody else is paid, exactly once, through bcoin's wallet."""
    from pool.accounts import AccountBook
    from pool.bitcoin.address import address_to_script, script_to_address

    node = bcoin_module
    node.fund_wallet()
    alice, bob, fee, other = (node.new_address() for _ in range(4))
    core_spelling = script_to_address(address_to_script(other, "regtest"), "regtest-core")
    assert core_spelling is not None and core_spelling[0] in "mn"  # bcoin writes R...
    accounts = (alice, core_spelling, bob, "notanaddress")
    config = make_config(scheme="prop", fee_percent=0, fee_account=fee, min_payout_sat=1000)
    store = open_store(config)
    try:
        ids = store.insert_shares([share(account, 1) for account in accounts])
        block = store.record_block(FoundBlock(
            height=1, hash="ba" * 32, reward=4_000_000, share_id=ids[-1], account=alice,
            worker="rig", network_difficulty=Fraction(1),
        ))
        store.set_block_status(block.id, BlockStatus.CONFIRMED)
    finally:
        store.close()
    resolve = AccountBook("regtest").payout_addresses
    client = WalletClient(node.wallet_url, flavor="bcoin")
    try:
        report = commands.payouts(config, client, resolve=resolve)
        assert sorted(report.quarantined) == sorted([core_spelling, "notanaddress"])
        assert "-5" in report.quarantined[core_spelling].reason
        assert report.due == {alice: 1_000_000, bob: 1_000_000}
        wallet = NodeWalletAdapter(client)
        sends = sent_outputs(wallet.list_transactions())
        paying = {t: outs for t, outs in sends.items() if alice in outs or bob in outs}
        assert sorted(a for outs in paying.values() for a in outs if a in (alice, bob)) == \
            sorted([alice, bob])  # each once  # fmt: skip
        assert all(outs.get(a, 1_000_000) == 1_000_000 for outs in paying.values()
                   for a in (alice, bob))  # fmt: skip
        again = commands.payouts(config, client, resolve=resolve)
        assert again.sent == [] and again.reconciled == []
        assert sorted(again.quarantined) == sorted([core_spelling, "notanaddress"])
    finally:
        asyncio.run(client.close())
    store = open_store(config)
    try:
        rows = {r.account: (r.payable, r.pending, r.paid) for r in store.balances()}
        assert rows[alice] == rows[bob] == (0, 0, 1_000_000)
        assert rows[core_spelling] == rows["notanaddress"] == (1_000_000, 0, 0)
        assert store.unfinished_batches() == []
    finally:
        store.close()
