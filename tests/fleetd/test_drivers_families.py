"""fleetd's per-family drivers against rigsim's firmware emulators, through the real pyasic
0.79: for each of Braiins OS+, stock Antminer, Whatsminer (API v2 and v3) and LuxOS,
identification, a reading, each kind of target the family takes, sleep, wake, wrong
credentials (named, and the rig then reads as failed: counted at nameplate), and a
command that arrives while the rig's mining process restarts.

Simulated time is a FakeClock (tests.rigsim.firmware_fleet): a test moves it past the
firmware's timing (from the rig model) and checks the draw; nothing waits on real time
except a listener reopening, which is a condition with a deadline.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from fleetd.drivers import (
    AntminerDriver,
    BraiinsDriver,
    Control,
    Credentials,
    DriverTimeouts,
    Granularity,
    LuxosDriver,
    PyasicDriver,
    Target,
    WhatsminerDriver,
    backend,
)
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.models import DEFAULT_CATALOG
from fleetd.planner import RigState
from rigsim.physics import RigState as SimState
from tests.rigsim.firmware_fleet import Site, refused, served, settle, site, wait_until

pytestmark = pytest.mark.integration

# generous per-call bounds (the machine is shared); no retries, so a refusal is one attempt
T = DriverTimeouts(read_s=10.0, command_s=15.0, read_retries=0, command_retries=0,
                   probe_s=15.0, retry_backoff_s=0.05)  # fmt: skip
WRONG = Credentials(username=None, password="not-the-password", password_v3="not-it")

BOS = [{"model": "S19jPro", "count": 1, "firmware": "braiins"}]
STOCK = [{"model": "S19jPro", "count": 1, "firmware": "antminer"}]
WHATSMINERS = [
    {"model": "M50", "count": 1, "firmware": "whatsminer"},
    {"model": "M60", "count": 1, "firmware": "whatsminer", "whatsminer_api": "v3"},
]
LUXOS = [{"model": "S21", "count": 1, "firmware": "luxos"}]
bos, stock, whatsminers, luxos = (served(*g) for g in (BOS, STOCK, WHATSMINERS, LUXOS))


def first(running: Site, family: str) -> tuple[Any, Any, Any, Any, Any]:
    """The served fleet's first rig, its model, and fleetd's driver for it."""
    runner, clock = running
    rig = runner.fleet.rigs[0]
    return runner, clock, rig, rig.model, PyasicDriver(rig.address, family, timeouts=T)


# ---------------------------------------------------------------------- identification


@pytest.mark.parametrize(
    ("groups", "cls", "kind", "granularity"),
    [
        (BOS, BraiinsDriver, FirmwareKind.BRAIINS, Granularity.WATTS),
        (STOCK, AntminerDriver, FirmwareKind.STOCK, Granularity.MODES),
        (WHATSMINERS, WhatsminerDriver, FirmwareKind.WHATSMINER, Granularity.PERCENT),
        (LUXOS, LuxosDriver, FirmwareKind.LUXOS, Granularity.PROFILES),
    ],
    ids=["braiins", "stock", "whatsminer", "luxos"],
)
async def test_identify_picks_the_familys_backend(
    groups: list[dict[str, Any]], cls: type, kind: FirmwareKind, granularity: Granularity
) -> None:
    async with site(groups) as (runner, _):
        for rig in runner.fleet.rigs:
            d = PyasicDriver(rig.address, None, timeouts=T)
            r = await d.read()
            assert r.ok, r.error
            assert isinstance(d.inner, cls) and d.firmware == kind
            assert d.inner.control.granularity == granularity
            assert d.capabilities.firmware == kind
        if kind != FirmwareKind.LUXOS:  # LuxOS is built directly; the others identified
            wrong = PyasicDriver(runner.fleet.rigs[0].address, "braiins" if kind !=
                                 FirmwareKind.BRAIINS else "stock", timeouts=T)  # fmt: skip
            res = await wrong.apply(Target.sleep())
            assert not res.ok and "but pyasic identifies" in res.error


# ---------------------------------------------------------------------- Braiins OS+


async def test_braiins_watt_target_settles_over_the_tuner_time(bos: Site) -> None:
    runner, clock, rig, m, d = first(bos, "braiins")
    r = await d.read()
    assert r.ok and r.state == RigState.HASHING and r.watts == 3050 and r.power_limit_w == 3050
    res = await d.apply(Target.limit_watts(2000.7))
    assert res.ok and res.detail == "2000 W", res.error
    r = await d.read()
    assert r.power_limit_w == 2000 and r.watts == 3050  # taken, not yet drawn
    settle(runner, clock, rig, m.tune_down_s + 0.01)
    assert (await d.read()).watts == 2000
    lo, hi = d.limits
    assert (lo, hi) == rig.model.watt_range()
    res = await d.apply(Target.limit_watts(lo - 50))
    assert not res.ok and "under the tuner's minimum" in res.error  # sleep it instead
    res = await d.apply(Target.limit_watts(lo - 1))  # a catalog point rounded under it
    assert res.ok and res.detail == f"{int(lo)} W"


async def test_braiins_sleep_and_wake_into_a_target(bos: Site) -> None:
    runner, clock, rig, m, d = first(bos, "braiins")
    assert (await d.apply(Target.sleep())).ok
    settle(runner, clock, rig, m.shed_s + 0.01)
    r = await d.read()
    assert r.state == RigState.SLEEPING and r.watts == round(m.sleep_w)
    res = await d.apply(Target.wake(watts=2500))
    assert res.ok and res.detail == "resume 2500 W"
    settle(runner, clock, rig, m.boot_s + m.ramp_up_s + 0.01)
    r = await d.read()
    assert r.state == RigState.HASHING and r.watts == 2500


async def test_braiins_wrong_credentials_are_named_and_read_as_failed(bos: Site) -> None:
    runner, _ = bos
    rig = runner.fleet.rigs[0]
    d = PyasicDriver(rig.address, "braiins", timeouts=T, credentials=WRONG)
    res = await d.apply(Target.limit_watts(2000))
    assert not res.ok and "credentials refused" in res.error and res.attempts == 1
    r = await d.read()
    assert not r.ok and "credentials refused" in r.error
    assert r.state == RigState.UNREACHABLE  # the planner counts it at nameplate
    assert rig.state == SimState.HASHING and rig.true_w == pytest.approx(3050)
    good = PyasicDriver(rig.address, "braiins", timeouts=T,
                        credentials=Credentials("root", "root"))  # fmt: skip
    assert (await good.apply(Target.limit_watts(2900))).ok


async def test_a_rig_refusing_the_credentials_is_asked_again_and_taken_back(
    bos: Site, stock: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "AUTH_RECHECK_S", 0.0)  # ask again at every reading
    for running, family in ((bos, "braiins"), (stock, "stock")):
        rig = running[0].fleet.rigs[0]
        d = PyasicDriver(rig.address, family, timeouts=T, credentials=WRONG)
        assert not (await d.apply(Target.sleep())).ok
        assert "credentials refused" in (await d.read()).error  # asked again: still refused
        (await d.miner()).web.pwd = "root"  # the rig's password is what fleetd is told now
        r = await d.read()
        assert r.ok and not d.auth_error, r.error


async def test_braiins_target_during_a_bosminer_restart(bos: Site) -> None:
    runner, clock, rig, m, d = first(bos, "braiins")
    miner = await d.miner()
    await miner.web.restart()
    assert refused(rig.address, 4028)
    assert not (await d.read()).ok  # no figures while bosminer restarts
    res = await d.apply(Target.limit_watts(2500))
    assert not res.ok and res.error  # UNAVAILABLE, named
    settle(runner, clock, rig, m.restart_api_s)
    await wait_until(lambda: not refused(rig.address, 4028), "bosminer answers again")
    res = await d.apply(Target.limit_watts(2500))
    assert res.ok, res.error
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + m.tune_down_s + 0.01)
    r = await d.read()
    assert r.ok and r.watts == 2500


# ---------------------------------------------------------------------- stock Antminer


async def test_stock_low_power_mode_restarts_then_settles_at_the_catalogs_figure(
    stock: Site,
) -> None:
    runner, clock, rig, m, d = first(stock, "stock")
    r = await d.read()
    assert r.ok and r.state == RigState.HASHING and r.profile == "normal" and r.watts is None
    assert r.hashrate_ths == pytest.approx(104.0, rel=1e-3)
    res = await d.apply(Target.use_profile("low"))
    assert res.ok and res.detail == "low", res.error
    assert rig.true_w == pytest.approx(m.base_w)  # bmminer restarts: the draw falls at once
    r = await d.read()  # 4028 refuses; the web interface still says the mode
    assert r.ok and r.state == RigState.BOOTING and r.profile == "low"
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
    await wait_until(lambda: not refused(rig.address, 4028), "bmminer answers again")
    r = await d.read()
    assert r.state == RigState.HASHING and r.profile == "low"
    low = DEFAULT_CATALOG.model("S19jPro").modes[0]
    assert rig.true_w == pytest.approx(low.watts, abs=1.0)  # what fleetd plans it at
    assert low.ths <= r.hashrate_ths <= low.ths * 1.01
    assert (await d.apply(Target.use_profile("low"))).detail == "low (already)"  # no restart
    res = await d.apply(Target.limit_watts(2000))
    assert not res.ok and "takes no watt limit" in res.error


async def test_stock_sleep_and_wake_into_a_mode(stock: Site) -> None:
    runner, clock, rig, m, d = first(stock, "stock")
    assert (await d.apply(Target.sleep())).ok
    settle(runner, clock, rig, max(m.shed_s, m.restart_api_s) + 0.01)
    await wait_until(lambda: not refused(rig.address, 4028), "bmminer answers again")
    r = await d.read()
    assert r.state == RigState.SLEEPING and r.profile is None
    assert rig.true_w == pytest.approx(m.sleep_w)
    assert (await d.apply(Target.wake(profile="low"))).ok
    settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
    await wait_until(lambda: not refused(rig.address, 4028), "bmminer answers again")
    r = await d.read()
    assert r.state == RigState.HASHING and r.profile == "low"


async def test_stock_wrong_credentials_are_named_and_read_as_failed(stock: Site) -> None:
    runner, clock = stock
    rig = runner.fleet.rigs[0]
    d = PyasicDriver(rig.address, "stock", timeouts=T, credentials=WRONG)
    r = await d.read()
    assert not r.ok and "credentials refused" in r.error and "401" in r.error
    res = await d.apply(Target.sleep())
    assert not res.ok and "credentials refused" in res.error and res.attempts == 1
    settle(runner, clock, rig, 600)
    assert rig.state == SimState.HASHING  # nothing changed


async def test_stock_mode_sent_mid_restart_is_taken_and_restarts_again(stock: Site) -> None:
    runner, clock, rig, m, d = first(stock, "stock")
    assert (await d.apply(Target.use_profile("low"))).ok
    settle(runner, clock, rig, m.restart_s / 2)
    assert rig.state == SimState.BOOTING  # mid-restart: 4028 may refuse, the web is up
    res = await d.apply(Target.use_profile("normal"))
    assert res.ok and res.detail == "normal"
    settle(runner, clock, rig, m.restart_s - 0.01)
    assert rig.state == SimState.BOOTING  # the restart started over
    settle(runner, clock, rig, m.ramp_up_s + 0.02)
    assert rig.true_w == pytest.approx(m.nameplate_w, rel=1e-3)


# ---------------------------------------------------------------------- Whatsminer


async def test_whatsminer_percentage_acts_at_once_on_v2_and_v3(whatsminers: Site) -> None:
    runner, clock = whatsminers
    for rig in runner.fleet.rigs:
        m = rig.model
        d = PyasicDriver(rig.address, "whatsminer", timeouts=T)
        r = await d.read()
        assert r.ok and r.power_limit_w == pytest.approx(m.nameplate_w, abs=1)
        res = await d.apply(Target.limit_watts(0.8 * m.nameplate_w + 5))
        assert res.ok and res.detail.startswith("80 % of"), res.error
        assert not refused(rig.address, 4028)  # btminer keeps running
        settle(runner, clock, rig, m.shed_s + 0.01)
        assert rig.true_w == pytest.approx(0.8 * m.nameplate_w, rel=1e-3)
        r = await d.read()  # the target asked for stands (the 1 % step is under it) ...
        assert r.power_limit_w == math.floor(0.8 * m.nameplate_w + 5)
        assert r.watts == pytest.approx(0.8 * m.nameplate_w, abs=1)
        fresh = await PyasicDriver(rig.address, "whatsminer", timeouts=T).read()
        assert fresh.power_limit_w == pytest.approx(0.8 * round(m.nameplate_w), abs=1)  # ...
        # and a driver that did not ask reads the limit times the percentage
        assert (await d.apply(Target.limit_watts(m.nameplate_w))).ok  # back to 100 %
        settle(runner, clock, rig, m.ramp_up_s + 0.01)
        assert rig.true_w == pytest.approx(m.nameplate_w, rel=1e-3)


async def test_whatsminer_power_limit_restarts_btminer_and_a_command_mid_restart_is_refused(
    whatsminers: Site,
) -> None:
    runner, clock = whatsminers
    for rig, port in zip(runner.fleet.rigs, (4028, 4433), strict=True):
        m = rig.model
        d = PyasicDriver(rig.address, "whatsminer", timeouts=T,
                         control=Control(Granularity.LIMIT, 10.0))  # fmt: skip
        res = await d.apply(Target.limit_watts(2500))
        assert res.ok and res.detail == "limit 2500 W", res.error
        assert rig.state == SimState.BOOTING and refused(rig.address, port)
        res = await d.apply(Target.sleep())  # btminer is restarting: no answer
        assert not res.ok and res.error
        r = await d.read()  # no figures, or no hashrate while btminer restarts
        assert not r.ok or (r.state == RigState.BOOTING and r.hashrate_ths == 0)
        settle(runner, clock, rig, m.restart_s + m.ramp_up_s + 0.01)
        await wait_until(lambda a=rig.address, p=port: not refused(a, p), "btminer is back")
        r = await d.read()
        assert r.ok and r.power_limit_w == 2500 and r.watts == 2500
        res = await d.apply(Target.limit_watts(500))  # under what the boards run at
        assert not res.ok and res.error


async def test_whatsminer_power_off_and_on(whatsminers: Site) -> None:
    runner, clock = whatsminers
    for rig in runner.fleet.rigs:
        m = rig.model
        d = PyasicDriver(rig.address, "whatsminer", timeouts=T)
        assert (await d.apply(Target.sleep())).ok
        settle(runner, clock, rig, m.shed_s + 0.01)
        r = await d.read()
        assert r.state == RigState.SLEEPING and r.watts == round(m.sleep_w)
        res = await d.apply(Target.wake(watts=0.5 * m.nameplate_w))
        assert res.ok and res.detail.startswith("power on 50 %"), res.error
        settle(runner, clock, rig, m.boot_s + m.ramp_up_s + 0.01)
        r = await d.read()
        assert r.state == RigState.HASHING
        assert rig.true_w == pytest.approx(0.5 * m.nameplate_w, rel=1e-2)


async def test_whatsminer_wrong_credentials_are_named_on_v2_and_v3(whatsminers: Site) -> None:
    runner, clock = whatsminers
    for rig in runner.fleet.rigs:
        d = PyasicDriver(rig.address, "whatsminer", timeouts=T, credentials=WRONG)
        assert (await d.read()).ok  # reads need no login ...
        res = await d.apply(Target.sleep())
        assert not res.ok and "credentials refused" in res.error and res.attempts == 1
        r = await d.read()  # ... but a rig that refuses our commands is counted at nameplate
        assert not r.ok and "credentials refused" in r.error
        settle(runner, clock, rig, 600)
        assert rig.state == SimState.HASHING


# ---------------------------------------------------------------------- LuxOS


async def test_luxos_profiles_sleep_and_wake(luxos: Site) -> None:
    runner, clock, rig, m, d = first(luxos, "luxos")
    r = await d.read()
    assert r.ok and d.profiles is not None
    low = d.profiles[0]
    res = await d.apply(Target.limit_watts(low.watts + 1))  # the highest profile that fits
    assert res.ok and res.detail == low.name
    settle(runner, clock, rig, m.shed_s + 0.01)
    r = await d.read()
    assert r.profile == low.name and r.power_limit_w == low.watts
    assert (await d.apply(Target.sleep())).ok
    settle(runner, clock, rig, m.shed_s + 0.01)
    assert (await d.read()).state == RigState.SLEEPING
    assert (await d.apply(Target.wake(profile=low.name))).ok
    settle(runner, clock, rig, m.boot_s + m.ramp_up_s + 0.01)
    r = await d.read()
    assert r.state == RigState.HASHING and r.profile == low.name
