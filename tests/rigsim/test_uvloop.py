"""The rigs' APIs on uvloop (what `surplus rigsim` runs on): pyasic identifies a rig of
each firmware family, reads it and commands it exactly as on asyncio's own loop."""

from __future__ import annotations

import pyasic
import uvloop

from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from rigsim.physics import RigState
from rigsim.runner import FleetRunner
from tests.rigsim.firmware_fleet import site
from tests.rigsim.test_mining import FLEET_FILE


def test_pyasic_drives_a_rig_served_on_uvloop() -> None:
    async def main() -> tuple[str, float, float, RigState]:
        cfg = load_fleet_config(FLEET_FILE)
        fleet = Fleet(rebase(cfg, free_loopback_base(cfg.total_rigs)))
        async with FleetRunner(fleet):
            rig = fleet.rigs[0]
            miner = await pyasic.get_miner(rig.address)
            assert miner is not None, "pyasic did not identify the rig"
            data = await miner.get_data()
            await miner.stop_mining()
            return type(miner).__name__, float(data.hashrate), float(data.wattage), rig.state

    name, hashrate, watts, state = uvloop.run(main())
    assert name.startswith("LUXMiner")
    assert hashrate > 0 and watts > 0
    assert state != RigState.HASHING  # the sleep command took effect


def test_every_familys_servers_work_on_uvloop() -> None:
    """grpclib (Braiins), aiohttp with digest auth (stock Antminer) and the framed API v3
    (Whatsminer) serve on uvloop as on asyncio's loop: identified, read, commanded."""
    groups = [
        {"model": "S19jPro", "count": 1, "firmware": "braiins"},
        {"model": "S21", "count": 1, "firmware": "antminer"},
        {"model": "M60", "count": 1, "firmware": "whatsminer", "whatsminer_api": "v3"},
    ]

    async def main() -> list[tuple[str, float, bool, RigState]]:
        out = []
        async with site(groups) as (runner, _):
            for rig in runner.fleet.rigs:
                miner = await pyasic.get_miner(rig.address)
                assert miner is not None, rig
                data = await miner.get_data()
                stopped = await miner.stop_mining()
                out.append((type(miner).__name__, float(data.hashrate), stopped, rig.state))
        return out

    results = uvloop.run(main())
    assert [name for name, *_ in results] == ["BOSMinerS19jPro", "BMMinerS21", "BTMinerM60VK10"]
    for _, hashrate, stopped, state in results:
        assert hashrate > 0 and stopped and state != RigState.HASHING
