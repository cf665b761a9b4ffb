"""PoolApp on the embedded devnet chain (fast, in-process): blocks paid to the finder in
solo mode, a new tip fanned out as a clean job to every session at once, template
refreshes, clean shutdown with client.reconnect, and pool mode with an FPPS ledger whose
settlement matches the formula recomputed from the recorded shares."""

from __future__ import annotations

import asyncio
import gc
from fractions import Fraction
from pathlib import Path

import pytest

import hashing
from pool.app import PoolApp
from pool.bitcoin.address import address_to_script, script_to_address
from pool.bitcoin.target import target_to_difficulty
from pool.config import PoolConfig, load
from pool.ledger import BlockStatus, open_store
from pool.node.devnet import DevnetNode
from rigsim.miner import Miner, StratumClient, prevhash_from_stratum
from surplus.cli import main as surplus_main
from tests.components.bcoin import ROOT
from tests.waiting import wait_for

ALICE = script_to_address(bytes.fromhex("0014" + "a1" * 20), "regtest")
BOB = script_to_address(bytes.fromhex("76a914" + "b0" * 20 + "88ac"), "regtest")
CAROL = script_to_address(bytes.fromhex("0020" + "c4" * 32), "regtest")


def devnet_config(**changes: object) -> PoolConfig:
    """configs/pool-devnet.toml on a free port: a block every ~2**15 hashes, a share
    every ~2**10."""
    base = load(ROOT / "configs" / "pool-devnet.toml")
    overrides: dict[str, object] = {
        "stratum": {"port": 0, "vardiff": {"initial": 2.0**-22, "minimum": 2.0**-30}},
        "node": {"difficulty": "0.00000762939453125", "mempool_txs": 12,
                 "poll_interval": 0.05},
        "metrics": {"listen": "127.0.0.1:0"},  # free ports: a running demo may hold the
        "stats_api": {"listen": "127.0.0.1:0"},  # documented ones
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(overrides.get(key), dict):
            overrides[key] = {**overrides[key], **value}  # type: ignore[dict-item]
        else:
            overrides[key] = value
    return base.with_overrides(**overrides)


async def handshake(port: int, worker: str, notes: list[tuple[str, list]]) -> StratumClient:
    client = await StratumClient.connect(
        "127.0.0.1", port, lambda method, params: notes.append((method, params))
    )
    await client.call("mining.subscribe", ["test/1"])
    assert await client.call("mining.authorize", [worker, "x"]) is True
    return client


async def test_solo_blocks_pay_the_finder_and_shutdown_says_reconnect() -> None:
    config = devnet_config()
    async with PoolApp(config) as app:
        assert isinstance(app.node, DevnetNode)
        chain = app.node.chain
        assert gc.get_freeze_count() > 0  # start-up objects are out of the collector's way
        start = chain.height
        watcher_notes: list[tuple[str, list]] = []
        watcher_client = await handshake(app.stratum_port, f"{CAROL}.idle", watcher_notes)
        miners = [
            Miner("127.0.0.1", app.stratum_port, f"{ALICE}.a", hashrate=60_000,
                  version_rolling=True),
            Miner("127.0.0.1", app.stratum_port, f"{BOB}.b", hashrate=60_000),
        ]
        for miner in miners:
            miner.start()
        try:
            def finders() -> set[str]:
                return {b.worker[-1] for b in app.blocks if b.confirmed}

            await wait_for(lambda: chain.height >= start + 6 and finders() == {"a", "b"}, 60,
                           "six devnet blocks, each miner finding some")
        finally:
            for miner in miners:
                await miner.stop()
        assert await app.blocks_settled(10)
        stats = app.stats
        confirmed = {b.hash: b for b in app.blocks if b.confirmed}
        assert stats.blocks_confirmed == len(confirmed) >= 6
        assert stats.accepted > stats.blocks_confirmed
        # The stopped miners are gone (the server sees their close a moment later), the
        # idle client stays.
        await wait_for(lambda: app.stats.sessions <= 1, 5, "stopped miners' sessions closed")
        assert app.stats.sessions == 1
        for height in range(start + 1, chain.height + 1):
            stored = chain.block_at(height)
            assert stored is not None
            found = confirmed[stored.hash_hex]
            coinbase = stored.block.txs[0]
            assert b"/surplus-devnet/" in coinbase.inputs[0].script_sig
            address = found.worker.split(".", 1)[0]
            assert coinbase.outputs[0].script_pubkey == address_to_script(address, "regtest")
            assert len(stored.block.txs) == 1 + 12  # the synthetic mempool, every block
    # Leaving the context drained the server: the idle client was told to reconnect.
    await asyncio.wait_for(watcher_client.closed, 5)
    assert any(method == "client.reconnect" for method, _ in watcher_notes), watcher_notes
    assert gc.get_freeze_count() == 0


async def test_new_tip_reaches_every_session_as_one_clean_job() -> None:
    config = devnet_config(node={"difficulty": "0.00002"})
    async with PoolApp(config) as app:
        assert isinstance(app.node, DevnetNode)
        chain = app.node.chain
        notes: list[list[tuple[str, list]]] = [[] for _ in range(40)]
        clients = [
            await handshake(app.stratum_port, f"{ALICE}.s{i}", notes[i]) for i in range(40)
        ]
        await wait_for(lambda: all(any(m == "mining.notify" for m, _ in n) for n in notes), 5)
        for n in notes:
            n.clear()
        # One block from outside the pool (another pool found it): built from the
        # pool's own current job by hand, then handed to the node.
        job = app.current_job
        assert job is not None
        en1, en2 = bytes(4), bytes(8)
        header76 = job.header(en1, en2, job.ntime, 0, job.version)[:76]
        nonce = hashing.scan_nonces(header76, job.network_target, 0, 1 << 24)[0]
        header = job.header(en1, en2, job.ntime, nonce, job.version)
        assert await app.node.submitblock(job.block(en1, en2, header).hex()) is None
        new_tip = bytes.fromhex(chain.tip.hash_hex)[::-1]
        await wait_for(lambda: all(any(m == "mining.notify" for m, _ in n) for n in notes), 5,
                       "the clean job at every session")
        for n in notes:
            params = next(p for m, p in n if m == "mining.notify")
            assert params[8] is True and prevhash_from_stratum(params[1]) == new_tip
        assert app.server is not None and app.server.stats.last_fanout_sessions == 40
        assert app.stats.last_fanout_ms < 100
        for client in clients:
            client.close()


async def test_refresh_sends_non_clean_jobs() -> None:
    config = devnet_config(node={"difficulty": "1", "refresh_interval": 0.2})
    async with PoolApp(config) as app:
        notes: list[tuple[str, list]] = []
        client = await handshake(app.stratum_port, f"{ALICE}.r", notes)
        await wait_for(lambda: app.counters.refreshes >= 3, 5, "three refreshes")
        await wait_for(lambda: sum(m == "mining.notify" for m, _ in notes) >= 3, 5)
        notifies = [p for m, p in notes if m == "mining.notify"]
        assert notifies[0][8] is True  # a miner's first job is always clean
        assert all(p[8] is False for p in notifies[1:])
        assert len({p[0] for p in notifies}) == len(notifies)
        client.close()


async def test_pool_mode_fpps_ledger_matches_the_formula(tmp_path: Path, capsys) -> None:
    ledger_path = tmp_path / "ledger.sqlite3"
    config = devnet_config(
        mode="pool", ledger_interval=3600,
        ledger={"path": str(ledger_path), "scheme": "fpps", "fee_percent": "1.5"},
    )
    async with PoolApp(config) as app:
        assert isinstance(app.node, DevnetNode)
        chain = app.node.chain
        start = chain.height
        miners = [
            Miner("127.0.0.1", app.stratum_port, f"{ALICE}.x", hashrate=60_000),
            Miner("127.0.0.1", app.stratum_port, f"{BOB}.y", hashrate=25_000,
                  version_rolling=True),
        ]
        for miner in miners:
            miner.start()
        try:
            await wait_for(lambda: chain.height >= start + 4, 60, "four devnet blocks")
        finally:
            for miner in miners:
                await miner.stop()
        assert await app.blocks_settled(10)
        assert app.stats.blocks_recorded == app.stats.blocks_confirmed >= 4
        current = app.current_job
        assert current is not None
        changed = await app.maintain_ledger()
        assert changed == []  # nothing is 100 blocks deep on this chain yet
        pool_script = app.pool_script

    store = open_store(config.ledger)  # type: ignore[arg-type]
    try:
        shares = store.shares()
        blocks = store.blocks()
        balances = {row.account: row.payable for row in store.balances()}
    finally:
        store.close()
    # Every found block: pending, with the chain's coinbase value; the coinbase pays the pool.
    values: dict[int, int] = {current.height: current.coinbase_value}
    for block in blocks:
        stored = chain.block_at(block.height)
        assert stored is not None and stored.hash_hex == block.hash
        assert block.status is BlockStatus.PENDING
        assert stored.block.txs[0].outputs[0].script_pubkey == pool_script
        values[block.height] = sum(out.value for out in stored.block.txs[0].outputs)
        assert block.reward == values[block.height]
    # FPPS: each share is worth difficulty / network difficulty x (subsidy + fees).
    network = target_to_difficulty(chain.target)
    gross: dict[str, Fraction] = {}
    for _, share in shares:
        gross[share.account] = gross.get(share.account, Fraction(0)) + (
            share.difficulty / network * values[share.height]
        )
    keep = 1 - Fraction(3, 200)
    for account in (ALICE, BOB):
        assert balances[account] == int(gross[account] * keep)
    total = sum(gross.values(), Fraction(0))
    assert sum(balances.values()) == int(total)
    assert balances[ALICE] > balances[BOB]

    # The operator's commands on the same ledger.
    config_file = tmp_path / "pool.toml"
    config_file.write_text(
        (ROOT / "configs" / "pool-devnet.toml").read_text().replace('"solo"', '"pool"')
        + f'\n[ledger]\npath = "{ledger_path}"\nscheme = "fpps"\nmin_payout_sat = 1000\n'
    )
    capsys.readouterr()
    assert surplus_main(["ledger", "balances", "--config", str(config_file)]) == 0
    shown = capsys.readouterr().out
    assert f"{balances[ALICE]:,}" in shown and "payable" in shown
    assert surplus_main(["ledger", "blocks", "--config", str(config_file)]) == 0
    shown = capsys.readouterr().out
    assert "pending" in shown and str(blocks[0].height) in shown
    assert surplus_main(["ledger", "payouts", "--dry-run", "--config", str(config_file)]) == 0
    shown = capsys.readouterr().out
    assert "dry run" in shown and f"{balances[ALICE]:,}" in shown
    assert surplus_main(["ledger", "payouts", "--config", str(config_file)]) == 2
    assert "wallet: paying out needs a [wallet] section" in capsys.readouterr().err


def test_pool_command_reports_a_bad_config(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "solo"\nnetwork = "regtest"\npayout_address = "nope"\n'
                   "[node]\ndevnet = true\n")
    assert surplus_main(["pool", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: payout_address: expected a regtest address" in err


@pytest.mark.parametrize("command", ["balances", "blocks"])
def test_ledger_command_needs_a_ledger_section(command: str, capsys) -> None:
    path = ROOT / "configs" / "pool-devnet.toml"
    assert surplus_main(["ledger", command, "--config", str(path)]) == 2
    assert "ledger: no [ledger] section" in capsys.readouterr().err


async def test_solo_mode_with_a_solo_ledger_keeps_shares_and_blocks(tmp_path: Path) -> None:
    config = devnet_config(ledger={"path": str(tmp_path / "solo.sqlite3"), "scheme": "solo"})
    async with PoolApp(config) as app:
        assert isinstance(app.node, DevnetNode)
        chain = app.node.chain
        start = chain.height
        miner = Miner("127.0.0.1", app.stratum_port, f"{CAROL}.solo", hashrate=60_000)
        miner.start()
        try:
            await wait_for(lambda: chain.height >= start + 2, 60, "two devnet blocks")
        finally:
            await miner.stop()
        assert await app.blocks_settled(10)
        accepted = app.stats.accepted
        assert app.stats.blocks_recorded == app.stats.blocks_confirmed >= 2
    store = open_store(config.ledger)  # type: ignore[arg-type]
    try:
        shares = store.shares()
        blocks = store.blocks()
        balances = store.balances()
    finally:
        store.close()
    assert len(shares) == accepted and {s.account for _, s in shares} == {CAROL}
    for block in blocks:
        stored = chain.block_at(block.height)
        assert stored is not None and stored.hash_hex == block.hash
        assert block.account == CAROL and block.scheme.value == "solo" and block.credited == 0
        assert block.reward == sum(out.value for out in stored.block.txs[0].outputs)
        assert stored.block.txs[0].outputs[0].script_pubkey == address_to_script(CAROL, "regtest")
    assert balances == []  # the coinbase paid the miner; the ledger owes nothing
