"""Whatsminer rigs driven by the real pyasic 0.79: btminer's API v2 on 4028 with writes
encrypted as pyasic's BTMinerRPCAPI does them (token, md5-crypt key, AES-ECB, base64),
and API v3 on 4433 for newer firmware (BTMinerV3RPCAPI). Identification, readings, the
power limit and its btminer restart, the power percentage, power off and on, commands
sent mid-restart, and wrong passwords. Simulated time is a FakeClock."""

from __future__ import annotations

import pyasic
import pytest
from pyasic.device.firmware import MinerFirmware
from pyasic.device.makes import MinerMake
from pyasic.errors import APIError
from pyasic.rpc.btminer import BTMinerRPCAPI, BTMinerV3RPCAPI

from rigsim.physics import RigState
from tests.rigsim.firmware_fleet import Site, first_rig, refused, served, settle, wait_until

pytestmark = pytest.mark.integration


whatsminers = served(
    {"model": "M50", "count": 1, "firmware": "whatsminer"},
    {"model": "M60", "count": 1, "firmware": "whatsminer", "whatsminer_api": "v3"},
)


async def test_get_miner_identifies_whatsminers_and_their_api(whatsminers: Site) -> None:
    runner, _ = whatsminers
    v2, v3 = runner.fleet.rigs
    for rig, cls, rpc in (
        (v2, "BTMinerM50VH50", BTMinerRPCAPI),
        (v3, "BTMinerM60VK10", BTMinerV3RPCAPI),
    ):
        miner = await pyasic.get_miner(rig.address)
        assert type(miner).__name__ == cls == rig.model.pyasic_class_for("whatsminer")
        assert miner.firmware == MinerFirmware.STOCK and miner.make == MinerMake.WHATSMINER
        assert type(miner.rpc) is rpc  # the firmware date picks API v2 or v3
    assert refused(v2.address, 4433) and not refused(v3.address, 4433)


async def test_get_data_reads_what_the_physics_says(whatsminers: Site) -> None:
    runner, _ = whatsminers
    for rig in runner.fleet.rigs:
        m = rig.model
        data = await (await pyasic.get_miner(rig.address)).get_data()
        r = rig.reading()
        assert float(data.hashrate) == pytest.approx(r.ths, rel=1e-4)
        assert float(data.expected_hashrate) == pytest.approx(m.nameplate_ths)
        assert data.wattage == round(r.reported_w) == round(m.nameplate_w)
        assert data.wattage_limit == round(m.nameplate_w)  # no limit set: nameplate
        assert [hb.chips for hb in data.hashboards] == [m.chips_per_board] * 3
        total = sum(float(hb.hashrate) for hb in data.hashboards)
        assert total == pytest.approx(r.ths, rel=1e-3)
        assert [f.speed for f in data.fans] == [r.fan_rpm] * 2 and r.fan_rpm > 0
        assert data.env_temp == pytest.approx(r.ambient_c)
        assert data.uptime == pytest.approx(r.process_uptime_s, abs=2)


async def test_power_limit_restarts_btminer_then_settles_at_the_limit(
    whatsminers: Site,
) -> None:
    runner, clock, rig, miner = await first_rig(whatsminers)
    m = rig.model
    assert await miner.set_power_limit(2500)  # adjust_power_limit
    assert rig.state == RigState.BOOTING and rig.true_w == pytest.approx(m.base_w)
    assert refused(rig.address, 4028)  # btminer is restarting
    assert (await miner.get_data()).hashrate is None
    settle(runner, clock, rig, m.restart_api_s)
    await wait_until(lambda: not refused(rig.address, 4028), "btminer answers again")
    data = await miner.get_data()
    assert data.wattage_limit == 2500 and float(data.hashrate) == 0.0
    settle(runner, clock, rig, m.restart_s - m.restart_api_s + m.ramp_up_s + 0.01)
    data = await miner.get_data()
    assert data.wattage == 2500 and rig.true_w == pytest.approx(2500, abs=0.5)
    assert float(data.hashrate) == pytest.approx(m.ths_at(m.clock_for_watts(2500)), rel=1e-3)
    assert not await miner.set_power_limit(500)  # below what the boards run at: Code 132
    assert not await miner.set_power_limit(round(m.nameplate_w) + 1)  # above nameplate
    assert (await miner.get_data()).wattage_limit == 2500


async def test_power_percent_acts_at_once_without_a_restart(whatsminers: Site) -> None:
    runner, clock, rig, miner = await first_rig(whatsminers)
    m = rig.model
    reply = await miner.rpc.set_power_pct(80)
    assert reply["Msg"] == "API command OK" and rig.state == RigState.RAMPING
    assert not refused(rig.address, 4028)  # btminer keeps running
    settle(runner, clock, rig, m.shed_s + 0.01)
    assert rig.true_w == pytest.approx(0.8 * m.nameplate_w, rel=1e-3)
    await miner.rpc.set_power_pct(1)  # no lower than the boards run at
    settle(runner, clock, rig, m.shed_s + 0.01)
    assert rig.true_w == pytest.approx(m.watt_range()[0], abs=1)
    with pytest.raises(APIError):
        await miner.rpc.set_power_pct(101)


async def test_power_off_sleeps_and_power_on_boots(whatsminers: Site) -> None:
    runner, clock = whatsminers
    for rig in runner.fleet.rigs:
        m = rig.model
        miner = await pyasic.get_miner(rig.address)
        assert await miner.stop_mining()
        settle(runner, clock, rig, m.shed_s + 0.01)
        assert rig.state == RigState.SLEEPING and rig.true_w == pytest.approx(m.sleep_w)
        data = await miner.get_data()
        assert float(data.hashrate) == 0.0 and data.wattage == round(m.sleep_w)
        assert await miner.resume_mining()
        assert rig.state == RigState.BOOTING
        settle(runner, clock, rig, m.boot_s + m.ramp_up_s + 0.01)
        assert rig.state == RigState.HASHING and rig.true_w == pytest.approx(m.nameplate_w)


async def test_v3_power_limit_restarts_btminer_too(whatsminers: Site) -> None:
    runner, clock = whatsminers
    rig = runner.fleet.rigs[1]
    m = rig.model
    miner = await pyasic.get_miner(rig.address)
    assert await miner.set_power_limit(2800)  # set.miner.power_limit
    assert refused(rig.address, 4433) and refused(rig.address, 4028)
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
    await wait_until(lambda: not refused(rig.address, 4433), "btminer answers again")
    data = await miner.get_data()
    assert data.wattage == data.wattage_limit == 2800


async def test_commands_sent_while_btminer_restarts(whatsminers: Site) -> None:
    runner, _ = whatsminers
    rig = runner.fleet.rigs[0]
    miner = await pyasic.get_miner(rig.address)
    assert await miner.set_power_limit(3000)
    assert refused(rig.address, 4028)
    # connection refused: pyasic's stop_mining sees no reply and says so ...
    assert not await miner.stop_mining()
    # ... but its set_power_limit reports success for the empty reply (pyasic 0.79)
    assert await miner.set_power_limit(2200)
    assert runner.fleet.apis.btminer.limit_w(rig.index) == 3000  # nothing reached the rig
    assert rig.state == RigState.BOOTING


async def test_wrong_password_gets_check_token_error(whatsminers: Site) -> None:
    runner, _ = whatsminers
    v2, v3 = runner.fleet.rigs
    miner = await pyasic.get_miner(v2.address)
    miner.rpc.pwd = "not-the-password"
    assert not await miner.stop_mining()
    assert not await miner.set_power_limit(2500)
    with pytest.raises(APIError, match="check token err"):
        await miner.rpc.power_off()
    assert v2.state == RigState.HASHING and runner.fleet.apis.btminer.limit_w(v2.index) == 3300
    miner = await pyasic.get_miner(v3.address)
    miner.rpc.pwd = "not-the-password"
    assert not await miner.stop_mining()  # code -4, no permission
    assert await miner.set_power_limit(2500)  # pyasic 0.79 does not read the answer ...
    assert runner.fleet.apis.btminer.limit_w(v3.index) == 3400  # ... which was a refusal
    assert v3.state == RigState.HASHING
