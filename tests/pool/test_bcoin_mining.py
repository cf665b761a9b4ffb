"""The pool against a real bcoin regtest node: blocks mined through Stratum, from height 1
past segwit activation (432), with the wallet filling the mempool, accepted by the node,
read back with getblock; then pool mode with several miners and a ledger whose balances
must match PPLNS and PROP recomputed here from the recorded shares and the node's block rewards.

The two tests share one node (module scope): the first builds the chain from height 1,
the second continues on it (and mines its own way to segwit when run alone).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from pool.app import PoolApp
from pool.bitcoin.address import script_to_address
from pool.ledger import BlockStatus, open_store
from rigsim.miner import Miner
from tests.components.bcoin import ROOT, SEGWIT_HEIGHT, BcoinNode

from .support import (
    Rigs,
    assert_our_coinbase,
    block_difficulty,
    block_reward,
    full_block,
    has_witness_commitment,
    pool_config,
    segwit_txs,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TAG = "/surplus-it/"
# Bits the rolling miners set (BIP310 mask 0x1fffe000) that bcoin's templates never do:
# bit 28 is in the mask too, but regtest's "testdummy" deployment signals on it.
ROLLING_BITS = 0x0FFFE000


def script_of(node: BcoinNode, address: str) -> str:
    return str(node.rpc("validateaddress", address)["scriptPubKey"])


async def fill(node: BcoinNode, app: PoolApp, count: int) -> list[str]:
    """Real wallet transactions into the mempool, once the wallet has seen the newest
    block that paid it (bcoin's wallet lists only the blocks that touch it)."""
    paid_wallet = [
        b.height for b in app.blocks
        if b.confirmed and (app.config.mode == "pool" or b.worker.endswith(".wallet"))
    ]
    if paid_wallet:
        await asyncio.to_thread(node.wait_wallet_height, max(paid_wallet))
    return await asyncio.to_thread(node.fill_mempool, count)


async def stock_segwit_account(node: BcoinNode) -> None:
    """Witness coins for the segwit spends after activation (created before it, which
    is allowed), so fill_mempool finds them confirmed and mines nothing itself."""
    outputs = {await asyncio.to_thread(node.new_address, "segwit"): 0.05 for _ in range(24)}
    await asyncio.to_thread(node.wallet_rpc, "sendmany", "default", outputs, 0)


def blocks_holding(node: BcoinNode, txids: list[str], first: int, last: int) -> dict[int, dict]:
    """The blocks in [first, last] that hold any of `txids`, by height."""
    wanted = set(txids)
    found = {}
    for height in range(first, last + 1):
        block = full_block(node, height)
        if wanted & {tx["txid"] for tx in block["tx"]}:
            found[height] = block
    return found


async def test_solo_mining_from_height_1_past_segwit(bcoin_module: BcoinNode) -> None:
    node = bcoin_module
    assert node.height == 0, "this test builds the chain from the genesis block"
    legacy = await asyncio.to_thread(node.wallet_address)  # R…, the wallet's: it funds sends
    # rb1q…, outside the wallet: a witness coin it could pick would be unspendable
    # before segwit activates, and the mempool would refuse the spend.
    witness = script_to_address(b"\x00\x14" + secrets.token_bytes(20), "regtest-bcoin")
    scripts = {legacy: script_of(node, legacy), witness: script_of(node, witness)}
    config = pool_config(
        mode="solo", network="regtest", payout_address=legacy, coinbase_tag=TAG,
        node={"urls": [node.rpc_url], "poll_interval": 0.05},
    )
    async with PoolApp(config) as app:
        rolling = Miner("127.0.0.1", app.stratum_port, f"{legacy}.wallet", hashrate=40,
                        version_rolling=True)
        plain = Miner("127.0.0.1", app.stratum_port, f"{witness}.other", hashrate=30)
        rigs = Rigs(node, [rolling, plain])
        await rigs.start()
        try:
            # The wallet's coinbases mature after 100 blocks; then legacy payments.
            await rigs.mine_to(115)
            node._funded = True  # funded by the pool's own blocks, not generatetoaddress
            batches = [(await fill(node, app, 24), await rigs.height())]
            await rigs.mine_to(await rigs.height() + 3)
            await rigs.mine_to(300)
            batches.append((await fill(node, app, 24), await rigs.height()))
            await stock_segwit_account(node)  # confirmed by the pool's next blocks
            # Block 432 is the first with segwit rules; bcoin's mempool takes witness
            # spends once that block is the tip (its state is the tip's, not the next's).
            await rigs.mine_to(SEGWIT_HEIGHT)
            batches.append((await fill(node, app, 24), await rigs.height()))
            await rigs.mine_to(await rigs.height() + 3)
            batches.append((await fill(node, app, 24), await rigs.height()))
            tip = await rigs.mine_to(await rigs.height() + 3)
        finally:
            await rigs.stop()
        assert await app.blocks_settled(10)
        stats = app.stats
        outcomes = {b.hash: b for b in app.blocks if b.confirmed}
    assert tip > SEGWIT_HEIGHT + 3
    assert stats.blocks_confirmed >= tip
    assert set(stats.rejected) <= {21}, stats.rejected  # stale shares only

    tag = TAG.encode()
    versions_rolled = versions_plain = 0
    for height in range(1, tip + 1):
        block = await asyncio.to_thread(full_block, node, height)
        found = outcomes.get(block["hash"])
        assert found is not None, f"block {height} was not mined through the pool"
        address = found.worker.split(".", 1)[0]
        assert_our_coinbase(block, tag, scripts[address])
        assert has_witness_commitment(block) == (height >= SEGWIT_HEIGHT), height
        if block["version"] & ROLLING_BITS:
            assert found.worker.endswith(".wallet"), (height, hex(block["version"]))
            versions_rolled += 1
        else:
            assert found.worker.endswith(".other"), (height, hex(block["version"]))
            versions_plain += 1
    assert versions_rolled > 50 and versions_plain > 50, (versions_rolled, versions_plain)

    for txids, filled_at in batches:
        holding = await asyncio.to_thread(blocks_holding, node, txids, filled_at + 1, tip)
        mined = {tx["txid"] for block in holding.values() for tx in block["tx"]}
        assert set(txids) <= mined, f"transactions filled at {filled_at} were not all mined"
        biggest = max(len(block["tx"]) for block in holding.values())
        assert biggest >= 20, f"the block after height {filled_at} held only {biggest} txs"
        witnessed = [tx for block in holding.values() for tx in segwit_txs(block)]
        if filled_at >= SEGWIT_HEIGHT:
            assert len(witnessed) >= 6, f"no segwit spends mined after {filled_at}"
        else:
            assert witnessed == []


def expected_credits(
    scheme: str,
    shares: list[tuple[int, str, Fraction]],
    blocks: list[tuple[int, int, Fraction]],
    n: Fraction,
    fee_percent: Fraction,
    fee_account: str,
) -> tuple[dict[str, int], int]:
    """Block credits from first principles, for blocks given as (id of the share that
    solved it, reward, network difficulty).

    PPLNS: walk back from the block's share through earlier shares until N x network
    difficulty of share work is counted (the last share only in part).
    PROP: every share since the previous block's share, at full difficulty.
    Then fee = floor(reward x fee%), each miner floor(rest x work / total work), and what
    the floors leave goes to the fee account. Also returns how many PPLNS windows were
    full (older shares left out)."""
    ordered = sorted(shares)
    totals: dict[str, int] = {}
    full = 0
    previous_block_share = 0
    for share_id, reward, difficulty in sorted(blocks):
        work: dict[str, Fraction] = {}
        if scheme == "pplns":
            window = n * difficulty
            counted = Fraction(0)
            for sid, account, diff in reversed(ordered):
                if sid > share_id:
                    continue
                take = min(diff, window - counted)
                work[account] = work.get(account, Fraction(0)) + take
                counted += take
                if counted >= window:
                    full += 1
                    break
        else:
            for sid, account, diff in ordered:
                if previous_block_share < sid <= share_id:
                    work[account] = work.get(account, Fraction(0)) + diff
        previous_block_share = share_id
        fee = reward * fee_percent // 100
        rest = reward - fee
        total_work = sum(work.values())
        paid = 0
        for account, w in work.items():
            amount = int(rest * w // total_work)
            totals[account] = totals.get(account, 0) + amount
            paid += amount
        totals[fee_account] = totals.get(fee_account, 0) + fee + (rest - paid)
    return {account: amount for account, amount in totals.items() if amount}, full


@pytest.mark.parametrize("scheme", ["pplns", "prop"])
async def test_pool_mode_ledger_matches_the_scheme(
    scheme: str, bcoin_module: BcoinNode, tmp_path: Path
) -> None:
    node = bcoin_module
    await asyncio.to_thread(node.fund_wallet)
    await asyncio.to_thread(node.activate_segwit)
    pool_address = await asyncio.to_thread(node.new_address)
    accounts = [await asyncio.to_thread(node.new_address) for _ in range(3)]
    ledger_path = tmp_path / "ledger.sqlite3"
    pplns_n, fee_percent = Fraction(12), Fraction(2)
    config = pool_config(
        mode="pool", network="regtest", payout_address=pool_address, coinbase_tag=TAG,
        ledger_interval=3600,
        node={"urls": [node.rpc_url], "poll_interval": 0.05},
        ledger={"backend": "sqlite", "path": str(ledger_path), "scheme": scheme,
                "pplns_n": str(pplns_n), "fee_percent": str(fee_percent),
                "min_payout_sat": 1000},
    )
    async with PoolApp(config) as app:
        port = app.stratum_port
        miners = [
            Miner("127.0.0.1", port, f"{accounts[0]}.big", hashrate=40, version_rolling=True),
            Miner("127.0.0.1", port, f"{accounts[1]}.mid", hashrate=20),
            Miner("127.0.0.1", port, f"{accounts[2]}.small", hashrate=8, version_rolling=True),
        ]
        rigs = Rigs(node, miners)
        await rigs.start()
        try:
            txids = await fill(node, app, 16)  # may mine a block itself when run alone
            start = await rigs.height()
            await rigs.mine_to(start + 15)
            more = await fill(node, app, 16)
            await rigs.mine_to(start + 30)
        finally:
            await rigs.stop()
        assert await app.blocks_settled(15)
        end = await rigs.height()
        stats = app.stats
        assert stats.blocks_confirmed >= 30 and stats.blocks_recorded == stats.blocks_confirmed
        assert stats.ledger_errors == 0
        # Blocks read back: the pool's address, our tag, rolled and plain versions,
        # and the wallet's transactions (segwit ones among them) in them.
        pool_script = script_of(node, pool_address)
        mined_txids: set[str] = set()
        witnessed = 0
        versions = set()
        for height in range(start + 1, end + 1):
            block = await asyncio.to_thread(full_block, node, height)
            assert_our_coinbase(block, TAG.encode(), pool_script)
            assert has_witness_commitment(block)
            mined_txids |= {tx["txid"] for tx in block["tx"]}
            witnessed += len(segwit_txs(block))
            versions.add(bool(block["version"] & ROLLING_BITS))
        assert set(txids) | set(more) <= mined_txids, "wallet transactions were not mined"
        assert witnessed >= 8 and versions == {True, False}

        # Maturity: 100 blocks on top, then the pool's maintenance confirms every block.
        burn = await asyncio.to_thread(node.new_address)
        await asyncio.to_thread(node.mine, 100, burn)
        changed = await app.maintain_ledger()
        assert {status for _, status in changed} == {BlockStatus.CONFIRMED}
        assert len(changed) == stats.blocks_recorded

    store = open_store(config.ledger)
    try:
        shares = [(sid, share.account, share.difficulty) for sid, share in store.shares()]
        blocks = store.blocks()
        balances = {row.account: row for row in store.balances()}
    finally:
        store.close()
    assert all(block.status is BlockStatus.CONFIRMED for block in blocks)
    # Recorded in chain order (a PROP round ends at the previously recorded block).
    in_record_order = [block.height for block in sorted(blocks, key=lambda b: b.id)]
    assert in_record_order == sorted(in_record_order)
    by_id = {sid: (account, diff) for sid, account, diff in shares}
    node_blocks = []
    for block in blocks:
        chain_block = await asyncio.to_thread(full_block, node, block.height)
        assert chain_block["hash"] == block.hash
        reward = block_reward(chain_block)  # what the node says the coinbase paid
        assert block.reward == reward
        assert block.share_id in by_id and by_id[block.share_id][0] == block.account
        node_blocks.append((block.share_id, reward, block_difficulty(chain_block)))
    expected, full_windows = expected_credits(
        scheme, shares, node_blocks, pplns_n, fee_percent, pool_address
    )
    if scheme == "pplns":
        assert full_windows >= 5, "the window should reach back past earlier blocks' shares"
    payable = {account: row.payable for account, row in balances.items() if row.payable}
    assert payable == expected
    assert all(row.immature == 0 for row in balances.values())
    assert set(accounts) <= set(payable), "every miner earned something"
    assert sum(payable.values()) == sum(reward for _, reward, _ in node_blocks)
    # Hash rates 40:20:8 show in the earnings (loosely: a few dozen blocks of luck).
    assert payable[accounts[0]] > payable[accounts[2]]

    # The operator's view of the same ledger.
    config_file = tmp_path / "pool.toml"
    config_file.write_text(
        f'mode = "pool"\nnetwork = "regtest"\npayout_address = "{pool_address}"\n'
        f'[node]\nurls = ["{node.rpc_url}"]\n'
        f'[ledger]\npath = "{ledger_path}"\nscheme = "{scheme}"\nmin_payout_sat = 1000\n'
    )
    shown = subprocess.run(
        [sys.executable, "-m", "surplus.cli", "ledger", "balances", "--config", str(config_file)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert shown.returncode == 0, shown.stderr
    for account in accounts:
        assert account in shown.stdout and f"{payable[account]:,}" in shown.stdout
