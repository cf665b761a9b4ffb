"""The LuxOS API over TCP, driven by the real pyasic 0.79: every reading and every command's
physical effect. Rigs run with boot, ramp and session times compressed to about a second."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pyasic
import pytest
from pyasic import settings
from pyasic.device.firmware import MinerFirmware
from pyasic.miners.backends.luxminer import LUXMiner

from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config, parse_fleet_config
from rigsim.fleet import Fleet, Rig
from rigsim.physics import RigState
from rigsim.runner import FleetRunner
from tests.rigsim.firmware_fleet import refused
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

SMALL = Path(__file__).resolve().parents[2] / "configs" / "fleet-small.toml"


async def start_fleet(session_timeout_s: float = 60.0) -> FleetRunner:
    cfg = load_fleet_config(SMALL)
    cfg = rebase(cfg, free_loopback_base(cfg.total_rigs))
    cfg = cfg.model_copy(
        update={
            "fleet": cfg.fleet.model_copy(
                update={"session_timeout_s": session_timeout_s, "tick_s": 0.05}
            )
        }
    )
    runner = FleetRunner(Fleet(cfg))
    await runner.start()
    return runner


@pytest.fixture
async def site() -> AsyncIterator[Fleet]:
    runner = await start_fleet()
    yield runner.fleet
    await runner.stop()


def first(fleet: Fleet, model: str) -> Rig:
    return next(r for r in fleet.rigs if r.model.key == model)


async def wait_state(rig: Rig, state: RigState, timeout: float = 5.0) -> None:
    await wait_for(lambda: rig.state == state, timeout, f"{rig} to reach {state.name}")


async def answer_again(call: Callable[[], Awaitable[dict]], timeout: float = 10.0) -> dict:
    """The first answer of an API that is down for a while (a reboot)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except pyasic.APIError:
            assert time.monotonic() < deadline, "the API never answered again"
            await asyncio.sleep(0.05)


async def raw(address: str, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(address, 4028)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)  # until the rig closes the socket
    writer.close()
    return data


async def test_get_miner_identifies_each_rig_as_luxos_of_its_model(site: Fleet) -> None:
    for rig in site.rigs:
        if rig.model.pyasic_class == "LUXMiner":
            # pyasic 0.79 has no LuxOS class for this model: it warns and uses the generic one
            with pytest.warns(UserWarning, match="Partially supported"):
                miner = await pyasic.get_miner(rig.address)
        else:
            miner = await pyasic.get_miner(rig.address)
        assert isinstance(miner, LUXMiner), rig
        assert type(miner).__name__ == rig.model.pyasic_class
        assert miner.firmware == MinerFirmware.LUXOS


async def test_get_data_reads_hashrate_power_limit_temperatures_and_fans(site: Fleet) -> None:
    rig = first(site, "S19jPro")
    miner = await pyasic.get_miner(rig.address)
    data = await miner.get_data()
    r = rig.reading()
    assert float(data.hashrate) == pytest.approx(r.ths, rel=1e-4)  # TH/s
    assert data.wattage == round(r.reported_w) == 3050
    assert data.wattage_limit == rig.model.nominal_profile.watts
    assert float(data.expected_hashrate) == pytest.approx(104.0)
    assert len(data.hashboards) == 3
    assert all(hb.chips == 126 and hb.chip_temp and hb.temp for hb in data.hashboards)
    assert data.temperature_avg == pytest.approx(r.chip_temp_c * 0.8 + r.ambient_c * 0.2, abs=2)
    assert [f.speed for f in data.fans] == [r.fan_rpm] * 4 and r.fan_rpm > 0
    assert data.uptime == pytest.approx(r.uptime_s, abs=2)
    assert data.fw_ver.endswith("rigsim")
    assert data.pools[0].url is not None and data.pools[0].user.endswith(rig.name)


async def test_generic_luxminer_still_reads_wattage_and_limit(site: Fleet) -> None:
    rig = first(site, "M60")
    with pytest.warns(UserWarning):
        miner = await pyasic.get_miner(rig.address)
    data = await miner.get_data()
    assert data.hashrate is None  # no hashboard count for this model in pyasic 0.79
    assert data.wattage == 3400 and data.wattage_limit == 3400
    summary = await miner.rpc.summary()  # the hashrate is there for a driver that asks
    assert summary["SUMMARY"][0]["GHS 5s"] == pytest.approx(172_000.0)


async def test_set_power_limit_picks_a_profile_and_the_rig_ramps_to_it(site: Fleet) -> None:
    rig = first(site, "S19jPro")
    miner = await pyasic.get_miner(rig.address)
    assert await miner.set_power_limit(2000)
    expected = max((p for p in rig.model.profiles if p.watts <= 2000), key=lambda p: p.watts)
    assert site.api_call(rig.index, "config")["CONFIG"][0]["Profile"] == expected.name
    assert site.firmware(rig.index).atm_enabled  # pyasic switched ATM off and on again
    assert rig.state == RigState.RAMPING
    await wait_state(rig, RigState.HASHING)
    data = await miner.get_data()
    assert data.wattage == expected.watts and data.wattage_limit == expected.watts
    assert float(data.hashrate) == pytest.approx(expected.ths, rel=1e-3)
    assert rig.true_w == pytest.approx(expected.watts, abs=1)
    assert not await miner.set_power_limit(500)  # below the lowest profile
    assert await miner.set_power_limit(5000)  # the overclock profile
    assert rig.state == RigState.RAMPING  # up to it over the ramp, not at once
    await wait_state(rig, RigState.HASHING)
    assert float((await miner.get_data()).hashrate) == pytest.approx(
        rig.model.profiles[-1].ths, rel=1e-3
    )


async def test_stop_and_resume_mining_sleep_and_wake_the_rig(site: Fleet) -> None:
    rig = first(site, "S21")
    miner = await pyasic.get_miner(rig.address)
    assert await miner.stop_mining()
    await wait_state(rig, RigState.SLEEPING)
    data = await miner.get_data()
    assert data.wattage == 25 and float(data.hashrate) == 0.0
    assert rig.true_w == pytest.approx(25.0)
    assert await miner.resume_mining()  # the cached session is still live
    assert rig.state == RigState.BOOTING
    await wait_state(rig, RigState.RAMPING)
    await wait_state(rig, RigState.HASHING)
    assert float((await miner.get_data()).hashrate) == pytest.approx(200.0, rel=1e-4)


async def test_session_expires_when_idle_and_pyasic_keeps_its_stale_token() -> None:
    runner = await start_fleet(session_timeout_s=0.5)
    try:
        rig = first(runner.fleet, "S19XP")
        miner = await pyasic.get_miner(rig.address)
        assert await miner.stop_mining()
        token = miner.rpc.session_token
        assert token
        await asyncio.sleep(0.8)  # idle past the 0.5 s timeout (real time must pass)
        assert not await miner.resume_mining()  # "Invalid session id"
        assert miner.rpc.session_token == token  # pyasic never logs on again by itself
        assert rig.state == RigState.SLEEPING
        miner.rpc.session_token = None  # what a long-running daemon must do
        assert await miner.resume_mining()
        assert miner.rpc.session_token != token
        assert rig.state == RigState.BOOTING
    finally:
        await runner.stop()


async def test_unreachable_rig_refuses_then_recovers(site: Fleet) -> None:
    rig = first(site, "S19")
    site.update_faults(rig.index, unreachable="refuse")
    await wait_for(lambda: refused(rig.address, 4028), 10, "the port to refuse")
    assert await pyasic.get_miner(rig.address) is None
    site.update_faults(rig.index, unreachable=None)
    await wait_for(lambda: not refused(rig.address, 4028), 10, "the API back")
    assert isinstance(await pyasic.get_miner(rig.address), LUXMiner)


async def test_blackholed_rig_times_out(site: Fleet) -> None:
    rig = first(site, "S19")
    miner = await pyasic.get_miner(rig.address)
    site.update_faults(rig.index, unreachable="blackhole")
    old = settings.get("factory_get_timeout")
    settings.update("factory_get_timeout", 1)
    try:
        start = time.monotonic()
        async with asyncio.timeout(30):  # it gives up; a hang would fail here
            assert await pyasic.get_miner(rig.address) is None
        assert time.monotonic() - start > 0.9  # after its timeout: nothing refused it
    finally:
        settings.update("factory_get_timeout", old)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(miner.get_data(), 1.0)


async def test_slow_api_answers_late_but_right(site: Fleet) -> None:
    rig = first(site, "S19XP")
    miner = await pyasic.get_miner(rig.address)
    site.update_faults(rig.index, api_delay_s=0.6)
    start = time.monotonic()
    data = await miner.get_data()
    assert time.monotonic() - start >= 0.6
    assert data.wattage == 3010


async def test_failed_hashboard_and_meter_mismatch_as_pyasic_sees_them(site: Fleet) -> None:
    rig = first(site, "S19jPro")
    site.update_faults(rig.index, failed_boards=[2], meter_factor=0.8)
    miner = await pyasic.get_miner(rig.address)
    data = await miner.get_data()
    boards = data.hashboards
    assert [hb.chips for hb in boards] == [126, 0, 126]
    assert float(boards[1].hashrate) == 0.0
    assert float(data.hashrate) == pytest.approx(104.0 * 2 / 3, rel=1e-4)
    assert data.wattage == round(rig.true_w * 0.8)  # the rig under-reports its draw
    assert rig.true_w > data.wattage


async def test_drifting_rig_wakes_itself_after_being_slept(site: Fleet) -> None:
    rig = first(site, "S21XP")
    site.update_faults(rig.index, drift_awake_after_s=0.5)
    with pytest.warns(UserWarning):
        miner = await pyasic.get_miner(rig.address)
    assert await miner.stop_mining()
    await wait_state(rig, RigState.SLEEPING)
    await wait_state(rig, RigState.BOOTING, timeout=2)
    await wait_state(rig, RigState.HASHING)
    assert (await miner.get_data()).wattage == 3645


async def test_reboot_drops_the_api_for_a_while(site: Fleet) -> None:
    rig = first(site, "S19")
    miner = await pyasic.get_miner(rig.address)
    assert await miner.reboot()
    assert rig.state == RigState.BOOTING
    with pytest.raises(pyasic.APIError):
        await miner.rpc.version()  # connection reset: the control board is down
    version = await answer_again(miner.rpc.version)
    assert version["VERSION"][0]["Type"] == "Antminer S19"
    await wait_state(rig, RigState.HASHING)


async def test_wire_format_nul_terminated_one_request_per_connection(site: Fleet) -> None:
    rig = first(site, "S21")
    data = await raw(rig.address, b'{"command":"summary+power"}')
    assert data.endswith(b"\x00") and b"\n" not in data
    reply = json.loads(data[:-1])
    assert reply["summary"][0]["STATUS"][0]["STATUS"] == "S"
    assert reply["power"][0]["POWER"][0]["Watts"] == 3500
    text = await raw(rig.address, b"version")  # cgminer plain-text form
    assert json.loads(text[:-1])["VERSION"][0]["Type"] == "Antminer S21"
    sleeping = first(site, "M50")
    sid = json.loads((await raw(sleeping.address, b'{"command":"logon"}'))[:-1])
    wake = {"command": "curtail", "parameter": f"{sid['SESSION'][0]['SessionID']},wakeup"}
    out = json.loads((await raw(sleeping.address, json.dumps(wake).encode()))[:-1])
    assert out["STATUS"][0]["STATUS"] == "S" and sleeping.state == RigState.BOOTING


@pytest.mark.slow
async def test_a_thousand_rigs_with_tcp_apis_in_one_process() -> None:
    first = int(ipaddress.IPv4Address(free_loopback_base(1000)))
    rigs = [
        {"model": m, "count": 250, "site": "s", "addresses": str(ipaddress.IPv4Address(a))}
        for m, a in zip(
            ("S19", "S19jPro", "S19XP", "S21"), range(first, first + 1000, 250), strict=True
        )
    ]
    cfg = parse_fleet_config({"sites": {"s": {}}, "rigs": rigs})
    async with FleetRunner(Fleet(cfg)) as runner:
        fleet = runner.fleet
        assert runner.api is not None and runner.api.listening == 1000
        sample = random.Random(5).sample(fleet.rigs, 24)
        miners = await asyncio.gather(*(pyasic.get_miner(r.address) for r in sample))
        datas = await asyncio.gather(*(m.get_data() for m in miners))
        for rig, miner, data in zip(sample, miners, datas, strict=True):
            assert type(miner).__name__ == rig.model.pyasic_class
            assert data.wattage == round(rig.reported_w)
            assert float(data.hashrate) == pytest.approx(rig.hashrate_ths, rel=1e-4)
