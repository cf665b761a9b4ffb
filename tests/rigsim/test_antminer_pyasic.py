"""Stock Antminer rigs driven by the real pyasic 0.79 (AntminerModern: bmminer's API on
4028, the web CGI on 80 behind digest auth): identification, readings, the work modes
(normal, low power, sleep) and the bmminer restart each change costs, a change sent
mid-restart, reboot, and wrong credentials. Simulated time is a FakeClock."""

from __future__ import annotations

import httpx
import pyasic
import pytest
from pyasic.config.mining import MiningModeConfig
from pyasic.device.firmware import MinerFirmware
from pyasic.miners.backends.antminer import AntminerModern

from rigsim.physics import RigState
from rigsim.rig import MODE_LOW, MODE_NORMAL, MODE_SLEEP
from tests.rigsim.firmware_fleet import Site, first_rig, refused, served, settle, wait_until
from tests.rigsim.identify import identified, read_healthy

pytestmark = pytest.mark.integration


stock = served(
    {"model": "S19jPro", "count": 1, "firmware": "antminer"},
    {"model": "S21XP", "count": 1, "firmware": "antminer", "start": "sleeping"},
)


async def set_mode(miner: AntminerModern, mode: MiningModeConfig) -> None:
    """What a fleet tool does for a mode: pyasic's get_config, then send_config."""
    cfg = await miner.get_config()
    cfg.mining_mode = mode
    await miner.send_config(cfg)


async def test_get_miner_identifies_stock_antminers(stock: Site) -> None:
    await identified(stock, AntminerModern, MinerFirmware.STOCK, ("BMMinerS19jPro", "BMMinerS21XP"))
    runner, _ = stock
    async with httpx.AsyncClient() as client:  # the challenge pyasic's factory looks for
        reply = await client.get(f"http://{runner.fleet.rigs[0].address}/")
    assert reply.status_code == 401
    assert 'realm="antMiner Configuration"' in reply.headers["www-authenticate"]


async def test_get_data_reads_what_the_physics_says(stock: Site) -> None:
    runner, _ = stock
    rig, asleep = runner.fleet.rigs
    data, r = await read_healthy(rig, 104.0, 126)  # the chips from the web's stats.cgi
    assert [f.speed for f in data.fans] == [r.fan_rpm] * 4
    assert (
        data.is_mining
        and data.mac
        == runner.fleet.apis.antminer_web.handle(rig.index, "get_system_info", None)["macaddr"]
    )
    # stock firmware reports no power: pyasic 0.79 has no wattage for it at all
    assert data.wattage is None and data.wattage_limit is None
    data = await (await pyasic.get_miner(asleep.address)).get_data()
    assert not data.is_mining and float(data.hashrate) == 0.0


async def test_low_power_mode_restarts_bmminer_then_settles_lower(stock: Site) -> None:
    runner, clock, rig, miner = await first_rig(stock)
    m = rig.model
    await set_mode(miner, MiningModeConfig.low())
    # the restart: hashing stops at once, bmminer's 4028 refuses, the web stays up
    assert rig.state == RigState.BOOTING and rig.true_w == pytest.approx(m.base_w)
    assert refused(rig.address, 4028)
    data = await miner.get_data()
    assert data.hashrate is None and data.is_mining  # is_mining reads the web's work mode
    assert isinstance((await miner.get_config()).mining_mode, type(MiningModeConfig.low()))
    settle(runner, clock, rig, m.restart_api_s)
    await wait_until(lambda: not refused(rig.address, 4028), "bmminer answers again")
    assert float((await miner.get_data()).hashrate) == 0.0  # boards still re-initialising
    settle(runner, clock, rig, m.restart_s - m.restart_api_s + m.ramp_up_s + 0.01)
    low_w = m.low_power_fraction * m.nameplate_w
    assert rig.state == RigState.HASHING and rig.true_w == pytest.approx(low_w, rel=1e-3)
    data = await miner.get_data()
    assert float(data.hashrate) == pytest.approx(m.ths_at(m.clock_for_watts(low_w)), rel=1e-3)
    await set_mode(miner, MiningModeConfig.normal())
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
    assert rig.true_w == pytest.approx(m.nameplate_w, rel=1e-3)


async def test_sleep_mode_sheds_and_normal_mode_wakes_through_a_restart(stock: Site) -> None:
    runner, clock, rig, miner = await first_rig(stock)
    m = rig.model
    assert await miner.stop_mining()  # pyasic: miner-mode 1
    assert runner.fleet.firmware(rig.index).work_mode == MODE_SLEEP
    settle(runner, clock, rig, max(m.shed_s, m.restart_api_s) + 0.01)
    await wait_until(lambda: not refused(rig.address, 4028), "bmminer answers again")
    data = await miner.get_data()
    assert rig.state == RigState.SLEEPING and rig.true_w == pytest.approx(m.sleep_w)
    assert not data.is_mining and float(data.hashrate) == 0.0
    assert await miner.resume_mining()  # miner-mode 0
    assert rig.state == RigState.BOOTING
    settle(runner, clock, rig, m.restart_s - 0.01)
    assert rig.true_w == pytest.approx(m.base_w)  # not hashing before restart_s
    settle(runner, clock, rig, m.ramp_up_s + 0.02)
    assert rig.state == RigState.HASHING and rig.true_w == pytest.approx(m.nameplate_w)


async def test_a_mode_sent_while_bmminer_restarts_is_taken_and_restarts_it_again(
    stock: Site,
) -> None:
    runner, clock, rig, miner = await first_rig(stock)
    m = rig.model
    await set_mode(miner, MiningModeConfig.low())
    settle(runner, clock, rig, m.restart_s / 2)
    assert rig.state == RigState.BOOTING  # mid-restart
    await set_mode(miner, MiningModeConfig.normal())  # the web interface is up: taken
    assert runner.fleet.firmware(rig.index).work_mode == MODE_NORMAL
    settle(runner, clock, rig, m.restart_s - 0.01)  # the restart started over
    assert rig.state == RigState.BOOTING
    settle(runner, clock, rig, m.ramp_up_s + 0.02)
    assert rig.true_w == pytest.approx(m.nameplate_w, rel=1e-3)
    await set_mode(miner, MiningModeConfig.normal())  # the same again: nothing restarts
    assert rig.state == RigState.HASHING


async def test_bad_work_mode_is_refused(stock: Site) -> None:
    runner, _ = stock
    rig = runner.fleet.rigs[0]
    miner = await pyasic.get_miner(rig.address)
    reply = await miner.web.set_miner_conf({"miner-mode": 2})
    assert reply["stats"] == "error" and rig.state == RigState.HASHING
    reply = await miner.web.set_miner_conf({"miner-mode": "3"})  # a string, as some send it
    assert reply["code"] == "M000" and runner.fleet.firmware(rig.index).work_mode == MODE_LOW


async def test_wrong_password_is_refused_with_a_new_challenge(stock: Site) -> None:
    runner, clock = stock
    rig, asleep = runner.fleet.rigs
    miner = await pyasic.get_miner(asleep.address)
    miner.web.pwd = "not-the-password"
    assert await miner.resume_mining()  # pyasic 0.79 does not look at the answer ...
    settle(runner, clock, asleep, 3600)
    assert asleep.state == RigState.SLEEPING  # ... which was 401: nothing changed
    assert runner.fleet.firmware(asleep.index).work_mode == MODE_SLEEP
    auth = httpx.DigestAuth("root", "not-the-password")
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"http://{rig.address}/cgi-bin/get_miner_conf.cgi", auth=auth)
        assert reply.status_code == 401 and "Digest" in reply.headers["www-authenticate"]
        good = httpx.DigestAuth("root", "root")
        reply = await client.get(f"http://{rig.address}/cgi-bin/get_miner_conf.cgi", auth=good)
    assert reply.status_code == 200 and reply.json()["bitmain-work-mode"] == "0"


async def test_reboot_takes_the_web_interface_down_for_a_while(stock: Site) -> None:
    runner, clock, rig, miner = await first_rig(stock)
    m = rig.model
    assert await miner.reboot()
    assert refused(rig.address, 80) and rig.state == RigState.BOOTING
    settle(runner, clock, rig, m.api_down_s)
    await wait_until(lambda: not refused(rig.address, 80), "the web interface is back")
    settle(runner, clock, rig, m.boot_s - m.api_down_s + m.ramp_up_s + 0.01)
    assert float((await miner.get_data()).hashrate) == pytest.approx(104.0, rel=1e-4)
