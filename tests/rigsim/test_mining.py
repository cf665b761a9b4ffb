"""rigsim mining through the real pool on the devnet chain: each rig's miner follows its
physics (shares accepted, a slept rig's shares stop, hashrate tracks the profile), and
the pool's own ledger is the witness of what arrived."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pool.app import PoolApp
from pool.config import parse as parse_pool_config
from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from rigsim.mining import FleetMiners, PoolUrlError, attach, parse_pool_url
from rigsim.physics import RigState
from rigsim.runner import FleetRunner
from tests.stratum.stratum_harness import never_faster_than
from tests.waiting import wait_for

FLEET_FILE = Path(__file__).resolve().parents[2] / "configs" / "fleet-small.toml"
POOL_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
SCALE = 100.0  # real H/s per simulated TH/s: the fleet hashes ~120 kH/s
SHARE_DIFFICULTY = 2.0**-19  # 8,192 hashes a share: a rig sends several a second


@dataclass
class Site:
    app: PoolApp
    fleet: Fleet
    miners: FleetMiners
    ledger: Path

    def pool_shares(self, worker: str) -> int:
        """Shares the pool committed for `worker`, read from its own SQLite ledger."""
        with sqlite3.connect(self.ledger) as db:
            row = db.execute(
                "SELECT count(*) FROM shares WHERE account || '.' || worker = ? OR worker = ?",
                (worker, worker),
            ).fetchone()
        return int(row[0])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    ledger = tmp_path / "ledger.sqlite3"
    config = parse_pool_config(
        {
            "mode": "pool",
            "network": "regtest",
            "payout_address": POOL_ADDRESS,
            "node": {"devnet": True, "difficulty": "0.001", "poll_interval": 0.05},
            "stratum": {
                "host": "127.0.0.1",
                "port": 0,
                "vardiff": {"enabled": False, "initial": SHARE_DIFFICULTY, "minimum": 1e-9},
            },
            "ledger": {"backend": "sqlite", "path": str(ledger)},
            "accounts": {"surplus": POOL_ADDRESS},  # the rigs' worker prefix
        },
        "<rigsim mining test>",
    )
    cfg = load_fleet_config(FLEET_FILE)
    cfg = rebase(cfg, free_loopback_base(cfg.total_rigs))
    cfg = cfg.model_copy(
        update={"fleet": cfg.fleet.model_copy(update={"hashrate_scale": SCALE,
                                                      "share_slice_s": 0.1})}
    )  # fmt: skip
    fleet = Fleet(cfg, source=str(FLEET_FILE))
    async with PoolApp(config) as app, FleetRunner(fleet, serve_api=False):
        host, port = app.stratum_address
        miners = await attach(fleet, f"stratum+tcp://{host}:{port}", sync_s=0.1)
        try:
            await miners.wait_connected(30)
            yield Site(app, fleet, miners, ledger)
        finally:
            await miners.stop()


def test_rigsim_command_refuses_a_bad_pool_url(capsys: pytest.CaptureFixture[str]) -> None:
    from rigsim.cli import main

    code = main(["--fleet", str(FLEET_FILE), "--pool", "http://127.0.0.1:3333", "--no-api",
                 "--metrics", "off"])  # fmt: skip
    assert code == 2
    assert "expected stratum+tcp://HOST:PORT" in capsys.readouterr().err


def test_pool_urls_parse_or_say_what_is_wrong() -> None:
    assert parse_pool_url("stratum+tcp://127.0.0.1:3333") == ("127.0.0.1", 3333)
    assert parse_pool_url("127.0.0.5:4444") == ("127.0.0.5", 4444)
    for bad in ("http://127.0.0.1:3333", "stratum+tcp://127.0.0.1", "stratum+tcp://:3333"):
        with pytest.raises(PoolUrlError, match="stratum\\+tcp://HOST:PORT"):
            parse_pool_url(bad)


async def test_awake_rigs_get_shares_accepted_and_sleeping_rigs_send_none(site: Site) -> None:
    fleet, miners = site.fleet, site.miners
    awake = [r for r in fleet.rigs if r.is_hashing]
    asleep = [r for r in fleet.rigs if r.state == RigState.SLEEPING]
    assert awake and asleep  # fleet-small has an M50 that starts asleep
    await wait_for(
        lambda: all(miners.miners[r.index].stats.accepted >= 3 for r in awake), 30,
        "every awake rig to have shares accepted",
    )  # fmt: skip
    miners.sync()
    for rig in awake:
        miner = miners.miners[rig.index]
        assert not miner.stats.rejected, f"{rig.name}: rejects {miner.stats.rejected}"
        assert site.pool_shares(miner.worker) >= 3  # the pool's ledger has them
        assert rig.pool.accepted == miner.stats.accepted  # what the `pools` command reports
        assert rig.pool.stratum_active
    for rig in asleep:
        miner = miners.miners[rig.index]
        assert miner.connected.is_set()  # connected, as a sleeping rig's controller is
        assert miner.stats.hashes == 0 and site.pool_shares(miner.worker) == 0
    # each rig connects from its own loopback address, as a rig on a site network does
    peers = {m.client.transport.get_extra_info("sockname")[0] for m in miners.miners if m.client}
    assert peers == {r.address for r in fleet.rigs}


async def test_a_slept_rigs_shares_stop_and_resume_when_it_wakes(site: Site) -> None:
    fleet, miners = site.fleet, site.miners
    rig = next(r for r in fleet.rigs if r.is_hashing)
    miner = miners.miners[rig.index]
    await wait_for(lambda: site.pool_shares(miner.worker) >= 2, 30, "first shares")
    fleet.sleep(rig.index)  # the rig sheds its load over shed_s, then sleeps
    await wait_for(lambda: rig.state == RigState.SLEEPING, 5, "the rig asleep")
    assert miner.paused  # the state change paused it at once, not at the next sync
    await wait_for(lambda: miner.idle, 10, "the shares in flight to land")
    hashes, in_ledger = miner.stats.hashes, site.pool_shares(miner.worker)
    await asyncio.sleep(0.5)  # an observation window for "nothing happens", no sync
    assert miner.stats.hashes == hashes
    assert site.pool_shares(miner.worker) == in_ledger
    others = [m for m in miners.miners if not m.paused]
    assert others and all(m.stats.hashes > 0 for m in others)  # the rest kept mining

    fleet.wake(rig.index)  # boot (1 s in fleet-small) then ramp: shares come back
    await wait_for(lambda: site.pool_shares(miner.worker) > in_ledger + 2, 30, "shares again")
    assert rig.is_hashing


async def test_pool_side_hashrate_tracks_the_rig_profile(site: Site) -> None:
    fleet, miners = site.fleet, site.miners
    rig = next(r for r in fleet.rigs if r.is_hashing and r.model.key == "S19XP")
    miner = miners.miners[rig.index]

    await wait_for(lambda: rig.state == RigState.HASHING, 10, "the rig at full speed")
    full_ths = rig.hashrate_ths
    await wait_for(lambda: miner.hashrate == pytest.approx(full_ths * SCALE), 10, "a sync")
    await never_faster_than(miner, miner.hashrate, int(full_ths * SCALE))

    lowest = rig.model.profiles[0].name
    fleet.set_profile(rig.index, lowest)
    await wait_for(lambda: rig.state == RigState.HASHING, 10, "the ramp to finish")
    low_ths = rig.hashrate_ths
    assert low_ths < 0.8 * full_ths
    await wait_for(lambda: miner.hashrate == pytest.approx(low_ths * SCALE), 10, "a sync")
    await never_faster_than(miner, miner.hashrate, int(low_ths * SCALE))
