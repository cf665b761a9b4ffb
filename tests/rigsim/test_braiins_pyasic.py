"""Braiins OS+ rigs driven by the real pyasic 0.79 (its BOSer: gRPC on 50051, bosminer's
API on 4028): identification, readings, the autotuner's power targets and their timing,
pause and resume, bosminer stop/start/restart, wrong credentials and expired tokens.
Simulated time is a FakeClock, so the rig models keep their real timings."""

from __future__ import annotations

import pyasic
import pytest
from grpclib import GRPCError, Status
from pyasic.device.firmware import MinerFirmware
from pyasic.errors import APIError
from pyasic.miners.backends.braiins_os import BOSer

from rigsim.physics import RigState
from tests.rigsim.firmware_fleet import Site, first_rig, refused, served, settle, wait_until
from tests.rigsim.identify import identified, read_healthy

pytestmark = pytest.mark.integration


bos = served(
    {"model": "S19jPro", "count": 1, "firmware": "braiins"},
    {"model": "S21", "count": 1, "firmware": "braiins", "faults": {"failed_boards": [2]}},
)


async def test_get_miner_identifies_braiins_os_make_model_and_firmware(bos: Site) -> None:
    classes = ("BOSMinerS19jPro", "BOSMinerS21")
    await identified(bos, BOSer, MinerFirmware.BRAIINS_OS, classes)
    runner, _ = bos
    assert [rig.model.pyasic_class_for("braiins") for rig in runner.fleet.rigs] == list(classes)


async def test_get_data_reads_what_the_physics_says(bos: Site) -> None:
    runner, _ = bos
    rig, broken = runner.fleet.rigs
    data, r = await read_healthy(rig, 104.0, 126)
    assert data.wattage == round(r.reported_w) == 3050
    assert data.wattage_limit == 3050  # the default power target: nameplate
    assert [f.speed for f in data.fans] == [r.fan_rpm] * 4 and r.fan_rpm > 0
    assert data.fw_ver == "24.04" and data.api_ver == "3.7"
    assert data.is_mining and not data.errors
    assert data.pools[0].user == runner.fleet.pool_status(rig.index).user
    data = await (await pyasic.get_miner(broken.address)).get_data()
    assert [hb.chips for hb in data.hashboards] == [108, 0, 108]
    assert float(data.hashrate) == pytest.approx(200.0 * 2 / 3, rel=1e-4)
    assert [e.error_message for e in data.errors] == ["Slot 1 failed"]  # tunerstatus


async def test_power_target_is_taken_at_once_and_the_draw_settles_over_the_tuner_time(
    bos: Site,
) -> None:
    runner, clock, rig, miner = await first_rig(bos)
    m = rig.model
    assert await miner.set_power_limit(2000)
    data = await miner.get_data()
    assert data.wattage_limit == 2000 and data.wattage == 3050  # taken, not yet drawn
    tuner = await miner.web.get_tuner_state()
    assert tuner["overallTunerState"] == 3  # TUNING
    settle(runner, clock, rig, m.tune_down_s / 2)
    assert 2000 < rig.true_w < 3050  # gradually, not at once
    settle(runner, clock, rig, m.tune_down_s / 2 + 0.01)
    data = await miner.get_data()
    assert data.wattage == 2000 and rig.true_w == pytest.approx(2000, abs=0.5)
    assert float(data.hashrate) == pytest.approx(m.ths_at(m.clock_for_watts(2000)), rel=1e-4)
    assert (await miner.web.get_tuner_state())["overallTunerState"] == 2  # STABLE
    up = await miner.web.increment_power_target(300)
    assert up["powerTarget"]["watt"] == 2300
    settle(runner, clock, rig, m.tune_up_s - 1)
    assert rig.true_w < 2299  # raising the target takes the tuner longer
    settle(runner, clock, rig, 1.01)
    assert rig.true_w == pytest.approx(2300, abs=0.5)
    down = await miner.web.decrement_power_target(500)
    assert down["powerTarget"]["watt"] == 1800
    settle(runner, clock, rig, m.tune_down_s + 0.01)
    assert (await miner.get_data()).wattage == 1800


async def test_power_target_outside_the_constraints_is_refused(bos: Site) -> None:
    runner, _ = bos
    rig = runner.fleet.rigs[0]
    miner = await pyasic.get_miner(rig.address)
    limits = (await miner.web.get_constraints())["tunerConstraints"]["powerTarget"]
    lo, hi = rig.model.watt_range()
    assert (limits["min"]["watt"], limits["default"]["watt"], limits["max"]["watt"]) == (
        lo, 3050, hi,
    )  # fmt: skip
    assert not await miner.set_power_limit(lo - 1)  # INVALID_ARGUMENT
    with pytest.raises(APIError):
        await miner.web.increment_power_target(hi)
    assert (await miner.get_data()).wattage_limit == 3050 and rig.state == RigState.HASHING


async def test_pause_sheds_to_sleep_and_resume_boots_back_to_the_target(bos: Site) -> None:
    runner, clock, rig, miner = await first_rig(bos)
    m = rig.model
    assert await miner.set_power_limit(2500)
    assert await miner.stop_mining()  # PauseMining
    settle(runner, clock, rig, m.shed_s + 0.01)
    data = await miner.get_data()
    assert rig.state == RigState.SLEEPING and data.wattage == round(m.sleep_w)
    assert not data.is_mining and float(data.hashrate) == 0.0
    assert (await miner.web.pause_mining())["alreadyPaused"]
    assert await miner.resume_mining()
    assert rig.state == RigState.BOOTING
    settle(runner, clock, rig, m.boot_s + m.ramp_up_s + 0.01)
    data = await miner.get_data()
    assert rig.state == RigState.HASHING and data.wattage == 2500 and data.is_mining


async def test_wrong_password_gets_unauthenticated_and_changes_nothing(bos: Site) -> None:
    runner, _ = bos
    rig = runner.fleet.rigs[0]
    miner = await pyasic.get_miner(rig.address)
    miner.web.pwd = "not-the-password"
    with pytest.raises(GRPCError) as refusal:  # pyasic 0.79 lets the gRPC error through
        await miner.stop_mining()
    assert refusal.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError):
        await miner.set_power_limit(2000)
    with pytest.raises(APIError):  # pyasic's get_data gives up on the gRPC refusal too
        await miner.get_data()
    summary = await miner.rpc.summary()  # bosminer's 4028 needs no login
    assert summary["SUMMARY"][0]["MHS 1m"] == pytest.approx(104e6)
    assert rig.state == RigState.HASHING and rig.true_w == pytest.approx(3050)


async def test_an_expired_token_is_refused_and_pyasic_logs_in_again(bos: Site) -> None:
    runner, _ = bos
    rig = runner.fleet.rigs[0]
    miner = await pyasic.get_miner(rig.address)
    assert await miner.set_power_limit(2900)
    old = miner.web.token
    tokens = runner.fleet.firmware(rig.index).tokens
    assert old in tokens
    tokens[old] = 0.0  # its hour is over
    assert await miner.set_power_limit(2800)  # UNAUTHENTICATED, a new Login, the retry
    assert miner.web.token != old and old not in tokens


async def test_a_target_sent_while_bosminer_restarts_is_refused(bos: Site) -> None:
    runner, clock, rig, miner = await first_rig(bos)
    m = rig.model
    assert (await miner.web.restart())["alreadyRunning"]
    assert refused(rig.address, 4028)  # bosminer serves 4028: it is restarting
    data = await miner.get_data()
    assert data.hashrate is None and data.wattage is None  # UNAVAILABLE meanwhile
    assert not await miner.set_power_limit(2500)  # UNAVAILABLE: the firmware's answer
    assert rig.state == RigState.BOOTING and rig.true_w == pytest.approx(m.base_w)
    settle(runner, clock, rig, m.restart_api_s)
    await wait_until(lambda: not refused(rig.address, 4028), "bosminer answers again")
    settle(runner, clock, rig, m.restart_s - m.restart_api_s + m.ramp_up_s + 0.01)
    data = await miner.get_data()
    assert rig.state == RigState.HASHING and data.wattage == data.wattage_limit == 3050


async def test_stop_and_start_bosminer(bos: Site) -> None:
    runner, clock, rig, miner = await first_rig(bos)
    m = rig.model
    assert not (await miner.web.stop()).get("alreadyStopped")
    settle(runner, clock, rig, m.shed_s + 0.01)
    assert refused(rig.address, 4028) and rig.state == RigState.SLEEPING
    details = await miner.web.get_miner_details()  # the API outlives bosminer
    assert details["status"] == 1  # NOT_STARTED
    assert (await miner.web.stop())["alreadyStopped"]
    settle(runner, clock, rig, 3600)
    assert refused(rig.address, 4028)  # stopped until started
    assert not (await miner.web.start()).get("alreadyRunning")
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
    await wait_until(lambda: not refused(rig.address, 4028), "bosminer answers again")
    assert float((await miner.get_data()).hashrate) == pytest.approx(104.0, rel=1e-4)
