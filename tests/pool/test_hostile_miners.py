"""Hostile miners against the real pool: none of them costs another miner a share, puts
a word in the pool's log, or is credited to someone else's account.

- a worker name holding NUL once failed an honest miner's shares on PostgreSQL (one
  INSERT per group commit): it is refused at authorize now, and the honest miner
  loses nothing (PoolApp on the devnet, PostgreSQL ledger);
- in pool mode an account the pool cannot pay is refused at authorize;
- shares are credited to the account of the worker that submitted them (a proxy carries
  alice.rig1 and bob.rig2 on one connection): the ledger, the blocks table and the stats
  API agree;
- a worker name that forges a log line (newline, timestamp, ANSI escapes) writes nothing
  raw into the log of a `surplus pool` process, even when it finds a block.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest

from pool.app import PoolApp
from pool.bitcoin.address import script_to_address
from pool.ledger import open_store
from rigsim.miner import Miner, StratumClient, StratumRequestError
from tests.components.postgres import postgres_database
from tests.stratum.stratum_harness import Scripted, find_nonce, submit_params
from tests.waiting import wait_for

from .support import pool_config, start_pool

pytestmark = pytest.mark.integration

POOL_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ALICE = script_to_address(bytes.fromhex("0014" + "a1" * 20), "regtest")
BOB = script_to_address(bytes.fromhex("0014" + "b2" * 20), "regtest")
FORGED = "2099-01-01 00:00:00,000 ERROR pool.app: FORGED LINE"
EVIL = f"evil\n{FORGED} \x1b[31mred\x1b[0m"
SHARE_DIFFICULTY = 2.0**-22  # a share every ~1,000 hashes


def devnet_pool(ledger: dict, *, block_difficulty: str = "1", **more: object):
    """Pool mode on the embedded devnet; difficulty 1: no share is a block."""
    return pool_config(
        mode="pool", network="regtest", payout_address=POOL_ADDRESS, ledger_interval=3600,
        node={"devnet": True, "difficulty": block_difficulty, "poll_interval": 0.05},
        stratum={"vardiff": {"enabled": False, "initial": SHARE_DIFFICULTY,
                             "minimum": 2.0**-40}},
        ledger={"scheme": "pplns", **ledger}, **more,
    )  # fmt: skip


async def authorize(port: int, worker: str) -> object:
    """What mining.authorize answers `worker` (True, or the error list)."""
    client = await StratumClient.connect("127.0.0.1", port)
    try:
        await client.call("mining.subscribe", ["test/1"])
        try:
            return await client.call("mining.authorize", [worker, "x"])
        except StratumRequestError as exc:
            return exc.error
    finally:
        client.close()


async def test_a_nul_in_a_worker_name_costs_the_honest_miner_nothing_on_postgres() -> None:
    with postgres_database() as dsn:
        config = devnet_pool({"backend": "postgres", "dsn": dsn})
        async with PoolApp(config) as app:
            port = app.stratum_port
            honest = Miner("127.0.0.1", port, f"{ALICE}.honest", hashrate=60_000)
            hostile = Miner("127.0.0.1", port, f"{ALICE}.\x00evil", hashrate=60_000,
                            reconnect_delay=0.2)  # fmt: skip
            answer = await authorize(port, f"{ALICE}.\x00evil")
            for miner in (honest, hostile):
                miner.start()
            try:
                await wait_for(lambda: honest.stats.accepted >= 300, 60,
                               "300 of the honest miner's shares answered")  # fmt: skip
            finally:
                for miner in (honest, hostile):
                    await miner.stop()
            assert honest.stats.rejected == {}, honest.stats.messages[-3:]
            assert isinstance(answer, list) and answer[0] == 24, answer
            assert hostile.stats.accepted == 0
            accepted = honest.stats.accepted
        store = open_store(config.ledger)
        try:
            workers = [share.worker for _, share in store.shares()]
        finally:
            store.close()
    assert workers.count(f"{ALICE}.honest") >= accepted
    assert all("\x00" not in w for w in workers)


async def test_pool_mode_accepts_only_accounts_it_can_pay(tmp_path: Path) -> None:
    config = devnet_pool({"path": str(tmp_path / "ledger.sqlite3")}, accounts={"alice": ALICE})
    async with PoolApp(config) as app:
        port = app.stratum_port
        for worker in ("notanaddress.rig", "[/x].rig", "bob.rig",
                       "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.rig"):  # fmt: skip
            answer = await authorize(port, worker)
            assert isinstance(answer, list) and answer[0] == 24, (worker, answer)
        assert await authorize(port, "alice.rig1") is True
        assert await authorize(port, f"{BOB}.rig2") is True


async def test_a_proxys_shares_are_credited_to_each_workers_own_account(tmp_path: Path) -> None:
    """One connection authorizes alice.rig1 then bob.rig2 and mines as bob.rig2 until it
    finds a block: the ledger credits bob, the blocks table says bob, the stats API too."""
    config = devnet_pool({"path": str(tmp_path / "ledger.sqlite3")},
                         block_difficulty="0.0000152587890625",  # 2**-16
                         accounts={"alice": ALICE, "bob": BOB},
                         stats_api={"listen": "127.0.0.1:0"})  # fmt: skip
    async with PoolApp(config) as app:
        client_box: list[Scripted] = []
        client = await StratumClient.connect(
            "127.0.0.1", app.stratum_port, lambda m, p: client_box[0].on_note(m, p)
        )
        scripted = Scripted(client)
        client_box.append(scripted)
        try:
            job = await scripted.handshake("alice.rig1")
            assert (await scripted.call("mining.authorize", ["bob.rig2", "x"]))["result"]
            for n in range(1, 2000):
                if app.blocks:
                    break
                if scripted.last_job is not None:
                    job = scripted.last_job
                en2 = n.to_bytes(8, "big")
                nonce = find_nonce(job, en2, difficulty=scripted.difficulty)
                await scripted.call("mining.submit", submit_params("bob.rig2", job, en2, nonce))
            assert app.blocks, "no block in 2000 shares"
            assert await app.blocks_settled(10)
        finally:
            client.close()
        assert app.stats.blocks_recorded >= 1
        assert app.stats_url is not None
        url = f"{app.stats_url}/api/v1/workers/bob.rig2"
        api = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(url).read()))
    store = open_store(config.ledger)
    try:
        credited = {(share.worker, share.account) for _, share in store.shares()}
        blocks = {(block.worker, block.account) for block in store.blocks()}
    finally:
        store.close()
    assert credited == {("bob.rig2", "bob")}
    assert blocks == {("bob.rig2", "bob")}
    assert (api["worker"], api["account"]) == ("bob.rig2", "bob")


async def test_a_worker_name_never_forges_a_line_in_the_pool_log(tmp_path: Path) -> None:
    """A `surplus pool` process in solo mode on the devnet; the miner named EVIL (a valid
    address, then a newline, a timestamp, ERROR, ANSI escapes) is refused at authorize.
    A miner with a name that is legal but no plain word ("[/x]") finds a block: the log
    line that names it carries it escaped. Nothing in the log starts a forged record."""
    config = tmp_path / "pool.toml"
    config.write_text(f"""
mode = "solo"
network = "regtest"
payout_address = "{POOL_ADDRESS}"
[node]
devnet = true
difficulty = "0.0000152587890625"
[stratum]
port = 0
[stratum.vardiff]
enabled = false
initial = {SHARE_DIFFICULTY}
minimum = 0.0000000001
""")
    log = tmp_path / "pool.log"
    proc, port = await asyncio.to_thread(start_pool, config, log)
    miner = None
    try:
        evil = f"{ALICE}.{EVIL}"
        answer = await authorize(port, evil)
        worker = evil if answer is True else f"{ALICE}.[/x]"
        miner = Miner("127.0.0.1", port, worker, hashrate=60_000)
        miner.start()
        await wait_for(lambda: "block candidate" in log.read_text(errors="replace"), 60,
                       "a block candidate in the pool's log")  # fmt: skip
    finally:
        if miner is not None:
            await miner.stop()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
    text = log.read_text(errors="replace")
    assert not any(line.startswith("2099-01-01") for line in text.splitlines()), text[-2000:]
    assert "\x1b" not in text
    assert answer == [24, answer[1], None], answer  # type: ignore[index]
    assert f"from '{ALICE}.[/x]'" in text


async def test_the_pool_exports_how_many_accounts_payouts_skip(tmp_path: Path) -> None:
    """Payouts run elsewhere (surplus ledger payouts); the pool reads the quarantine from
    the shared ledger at start and at every maintenance round."""
    config = devnet_pool({"path": str(tmp_path / "ledger.sqlite3")},
                         metrics={"listen": "127.0.0.1:0"})

    def quarantine(account: str, address: str) -> None:  # as `surplus ledger payouts` does
        store = open_store(config.ledger)
        try:
            store.quarantine(account, address, "no payout address")
        finally:
            store.close()

    quarantine("[/x]", "")

    def gauge(url: str) -> float:
        text = urllib.request.urlopen(url).read().decode()
        line = next(li for li in text.splitlines()
                    if li.startswith("surplus_pool_payout_quarantined_accounts "))  # fmt: skip
        return float(line.split()[1])

    async with PoolApp(config) as app:
        assert app.metrics_url is not None and app.ledger is not None
        assert await asyncio.to_thread(gauge, app.metrics_url) == 1
        await asyncio.to_thread(quarantine, BOB, BOB)
        await app.maintain_ledger()
        assert await asyncio.to_thread(gauge, app.metrics_url) == 2
