"""The pyasic driver against REAL emulated LuxOS rigs (rigsim on loopback TCP) through REAL
pyasic 0.79: telemetry, profiles, watt limits, sleep and wake, session expiry, late and
missing replies, read fan-out with bounded concurrency, and the controller's command
window (fleetd.control.dispatch)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from fleetd.audit import AuditLog, Signal, read_audit
from fleetd.control import Order
from fleetd.control.dispatch import Dispatcher
from fleetd.drivers import (
    DriverTimeouts,
    Fanout,
    PyasicDriver,
    RigReading,
    Target,
)
from fleetd.planner import Command, RigState
from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet, Rig
from rigsim.physics import RigState as SimState
from rigsim.runner import FleetRunner
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

FAST = DriverTimeouts(read_s=1.0, command_s=3.0, read_retries=1, command_retries=1,
                      session_ttl_s=45.0, probe_s=3.0, retry_backoff_s=0.05)  # fmt: skip
# What a loaded machine may add to a bound in real seconds derived from the timeouts: a
# bound says "within its timeouts", never how fast this machine is.
SLACK_S = 1.0


async def start_fleet(session_timeout_s: float = 60.0) -> FleetRunner:
    cfg = load_fleet_config(CONFIGS / "fleet-small.toml")
    cfg = rebase(cfg, free_loopback_base(cfg.total_rigs + 2))
    fleet = cfg.fleet.model_copy(update={"session_timeout_s": session_timeout_s, "tick_s": 0.05})
    runner = FleetRunner(Fleet(cfg.model_copy(update={"fleet": fleet})))
    await runner.start()
    return runner


@pytest.fixture
async def runner() -> AsyncIterator[FleetRunner]:
    runner = await start_fleet()
    yield runner
    await runner.stop()


@pytest.fixture
def site(runner: FleetRunner) -> Fleet:
    return runner.fleet


def first(fleet: Fleet, model: str) -> Rig:
    return next(r for r in fleet.rigs if r.model.key == model)


async def wait_state(rig: Rig, state: SimState, timeout: float = 5.0) -> None:
    await wait_for(lambda: rig.state == state, timeout, f"{rig} in {state.name}")


async def test_read_matches_each_rig_including_models_pyasic_half_knows(site: Fleet) -> None:
    drivers = [PyasicDriver(r.address, "luxos", timeouts=FAST) for r in site.rigs]
    readings = await Fanout(4).read_all(drivers)
    for rig, r in zip(site.rigs, readings, strict=True):
        truth = rig.reading()
        assert r.ok and r.error == "" and r.host == rig.address
        assert r.watts == round(truth.reported_w)
        assert r.hashrate_ths == pytest.approx(truth.ths, rel=1e-4)  # M60 too (pyasic: None)
        assert r.profile == rig.model.profiles[truth.profile_index].name
        assert r.power_limit_w == rig.model.profiles[truth.profile_index].watts
        assert r.model == rig.model.luxos_type
        assert len(r.temps_c) == rig.model.hashboards and len(r.fans_rpm) == rig.model.fans
        expected = RigState.SLEEPING if truth.state == SimState.SLEEPING else RigState.HASHING
        assert r.state == expected
    assert sum(r.state == RigState.SLEEPING for r in readings) == 1  # the M50 starts asleep
    ladder = drivers[0].profiles
    assert ladder is not None and [p.name for p in ladder] == [
        p.name for p in sorted(site.rigs[0].model.profiles, key=lambda p: p.watts)
    ]


async def test_watt_limit_picks_the_highest_profile_that_fits(site: Fleet) -> None:
    rig = first(site, "S19jPro")
    d = PyasicDriver(rig.address, timeouts=FAST)
    res = await d.apply(Target.limit_watts(2000))
    expected = max((p for p in rig.model.profiles if p.watts <= 2000), key=lambda p: p.watts)
    assert res.ok and res.detail == expected.name and res.attempts == 1
    assert site.api_call(rig.index, "config")["CONFIG"][0]["Profile"] == expected.name
    await wait_state(rig, SimState.HASHING)
    r = await d.read()
    assert r.profile == expected.name and r.power_limit_w == expected.watts
    assert r.watts == expected.watts and r.hashrate_ths == pytest.approx(expected.ths, rel=1e-3)
    low = await d.apply(Target.limit_watts(500))
    assert not low.ok and "no LuxOS profile draws <= 500 W" in low.error
    assert low.attempts == 1  # a target that cannot fit is not retried


async def test_named_profile_and_unknown_profile(site: Fleet) -> None:
    rig = first(site, "S21")
    d = PyasicDriver(rig.address, timeouts=FAST)
    name = rig.model.profiles[1].name
    res = await d.apply(Target.use_profile(name))
    assert res.ok and res.detail == name
    assert site.api_call(rig.index, "config")["CONFIG"][0]["Profile"] == name
    assert site.firmware(rig.index).atm_enabled  # ATM switched off and back on, as pyasic does
    bad = await d.apply(Target.use_profile("9000MHz"))
    assert not bad.ok and "no LuxOS profile '9000MHz'" in bad.error


async def test_sleep_then_wake_into_a_low_profile(site: Fleet) -> None:
    rig = first(site, "S19XP")
    d = PyasicDriver(rig.address, timeouts=FAST)
    assert (await d.apply(Target.sleep())).ok
    await wait_state(rig, SimState.SLEEPING)
    asleep = await d.read()
    assert asleep.state == RigState.SLEEPING and asleep.watts == pytest.approx(25, abs=5)
    assert asleep.hashrate_ths == 0.0
    low = rig.model.profiles[0]
    res = await d.apply(Target.wake(profile=low.name))
    assert res.ok and res.detail == f"wakeup {low.name}"
    booting = await d.read()
    assert booting.state == RigState.BOOTING and booting.profile == low.name
    await wait_state(rig, SimState.HASHING)
    up = await d.read()
    assert up.state == RigState.HASHING and up.watts == low.watts  # never at full power


async def test_session_expiry_is_handled_both_ways() -> None:
    runner = await start_fleet(session_timeout_s=0.4)
    try:
        fleet = runner.fleet
        a, b, c = (first(fleet, m) for m in ("S19", "S19jPro", "S21"))
        # the quirk itself: pyasic keeps a dead session id and fails from then on
        raw = PyasicDriver(a.address, timeouts=FAST)
        assert (await raw.apply(Target.sleep())).ok
        await asyncio.sleep(0.6)  # real time must pass: the rig's 0.4 s session timeout
        miner = await raw.miner()
        assert not await miner.resume_mining()  # "Invalid session id"
        assert miner.rpc.session_token is not None
        # reactive: the refusal makes the driver drop the token and try once more
        res = await raw.apply(Target.wake())
        assert res.ok and res.session_resets == 1 and res.attempts == 1
        assert a.state == SimState.BOOTING
        # proactive: idle longer than session_ttl_s -> the token is dropped before sending
        ttl = DriverTimeouts(read_s=1.0, command_s=3.0, session_ttl_s=0.3)
        d = PyasicDriver(b.address, timeouts=ttl)
        assert (await d.apply(Target.sleep())).ok
        await asyncio.sleep(0.6)  # real time must pass: the driver's 0.3 s session ttl
        res = await d.apply(Target.wake())
        assert res.ok and res.session_resets == 1
        # in use, the session stays: no resets while commands keep it alive
        e = PyasicDriver(c.address, timeouts=FAST)
        names = [p.name for p in c.model.profiles[:3]]
        for name in names:
            r = await e.apply(Target.use_profile(name))
            assert r.ok and r.session_resets == 0
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()


def profile_of(fleet: Fleet, rig: Rig) -> str:
    return str(fleet.api_call(rig.index, "config")["CONFIG"][0]["Profile"])


async def test_each_command_sends_only_the_requests_it_needs() -> None:
    """Counted by the driver (one TCP connection each): the ATM switch and profile come
    from the reading, a session known to be gone is opened with a single logon."""
    runner = await start_fleet(session_timeout_s=0.5)
    try:
        fleet = runner.fleet
        rig = first(fleet, "S21")
        names = [p.name for p in rig.model.profiles]
        t = DriverTimeouts(read_s=1.0, command_s=3.0, session_ttl_s=0.4, session_expiry_s=0.5,
                           retry_backoff_s=0.05)  # fmt: skip
        d = PyasicDriver(rig.address, timeouts=t)
        assert (await d.read()).ok and d.requests == 1

        async def cost(target: Target) -> int:
            before = d.requests
            res = await d.apply(target)
            assert res.ok, res.error
            return d.requests - before

        # no session yet: logon, ATM off, profileset, ATM on (ATM state from the reading)
        assert await cost(Target.use_profile(names[1])) == 4 and d.logons == 1
        assert profile_of(fleet, rig) == names[1] and fleet.firmware(rig.index).atm_enabled
        assert await cost(Target.use_profile(names[2])) == 3  # the session is held
        assert await cost(Target.use_profile(names[2])) == 0  # it runs that profile already
        # idle past the firmware's limit: logon, no `session` first
        await asyncio.sleep(0.7)  # real time must pass: the 0.5 s session expiry
        assert await cost(Target.use_profile(names[0])) == 4 and d.logons == 2
        assert profile_of(fleet, rig) == names[0] and fleet.firmware(rig.index).atm_enabled
        # a wake into the profile it slept in is the wakeup alone
        assert await cost(Target.sleep()) == 1
        await wait_state(rig, SimState.SLEEPING)
        asleep = await d.read()
        assert await cost(Target.wake(profile=asleep.profile)) == 1
        assert rig.state in (SimState.BOOTING, SimState.HASHING)
        # ATM switched off by the operator: left off, and no toggling around profileset
        fleet.firmware(rig.index).atm_enabled = False
        assert (await d.read()).ok
        assert await cost(Target.use_profile(names[1])) == 1
        assert not fleet.firmware(rig.index).atm_enabled and profile_of(fleet, rig) == names[1]
        # a second client without a fresh reading asks `atm`, as pyasic does; its logon is
        # refused while the first one's session is live, so it takes that one (`session`)
        fleet.firmware(rig.index).atm_enabled = True
        ask = PyasicDriver(rig.address, timeouts=replace(t, seen_max_age_s=0.0))
        res = await ask.apply(Target.use_profile(names[0]))
        assert res.ok and profile_of(fleet, rig) == names[0]
        assert ask.requests == 7 and ask.logons == 0  # profiles, logon, session, atm, 3
        assert fleet.firmware(rig.index).atm_enabled
    finally:
        await runner.stop()


async def test_atm_left_off_by_a_failed_change_is_turned_back_on(
    site: Fleet, runner: FleetRunner
) -> None:
    """pyasic would ask `atm` again after a change cut short between ATM off and on, read
    "off", and leave ATM off for good; the driver remembers it switched ATM off."""
    rig = first(site, "S19XP")
    names = [p.name for p in rig.model.profiles]
    t = DriverTimeouts(read_s=1.0, command_s=0.9, command_retries=0, retry_backoff_s=0.05)
    d = PyasicDriver(rig.address, timeouts=t)
    assert (await d.apply(Target.use_profile(names[1]))).ok  # session held, ATM known on
    site.update_faults(rig.index, api_delay_s=0.6)  # ATM off answers, profileset does not
    cut = await d.apply(Target.use_profile(names[2]))
    assert not cut.ok and "no answer within 0.9 s" in cut.error
    assert not site.firmware(rig.index).atm_enabled
    site.update_faults(rig.index, api_delay_s=0.0)
    # the late profileset is answered or dropped once no connection to the rig is open
    assert runner.api is not None
    await wait_for(lambda: all(c.index != rig.index for c in runner.api.connections),
                   what="the late profileset settled")  # fmt: skip
    res = await d.apply(Target.use_profile(names[0]))
    assert res.ok and profile_of(site, rig) == names[0]
    assert site.firmware(rig.index).atm_enabled


async def test_unreachable_rig_is_reported_unknown(site: Fleet, runner: FleetRunner) -> None:
    rig = first(site, "S19")
    d = PyasicDriver(rig.address, timeouts=FAST)
    assert (await d.read()).ok
    site.update_faults(rig.index, unreachable="refuse")
    r = await d.read()
    assert not r.ok and r.state == RigState.UNREACHABLE and r.attempts == 2
    assert "connection refused" in r.error and r.watts is None
    res = await d.apply(Target.sleep())
    assert not res.ok and res.attempts == 2
    assert runner.api is not None
    serving = runner.api.listening
    site.update_faults(rig.index, unreachable="blackhole")
    # the rig's server comes back (to swallow requests)
    await wait_for(lambda: runner.api is not None and runner.api.listening == serving + 1,
                   what="the rig listening again")  # fmt: skip
    quick = DriverTimeouts(read_s=0.3, command_s=0.5, read_retries=1, command_retries=0,
                           retry_backoff_s=0.05)  # fmt: skip
    d2 = PyasicDriver(rig.address, timeouts=quick)
    started = time.monotonic()
    r2 = await d2.read()
    took = time.monotonic() - started
    tries = 1 + quick.read_retries  # each waits out its timeout
    within = tries * quick.read_s + quick.read_retries * quick.retry_backoff_s
    assert not r2.ok and "no reply within 0.3 s" in r2.error
    assert tries * quick.read_s <= took < within + SLACK_S
    assert (await d2.apply(Target.sleep())).error == "no answer within 0.5 s"
    nobody = PyasicDriver(site.rigs[-1].address.rsplit(".", 1)[0] + ".250", timeouts=FAST)
    assert (await nobody.read()).state == RigState.UNREACHABLE


async def test_late_reply_is_retried_within_bounds(site: Fleet) -> None:
    rig = first(site, "S21XP")
    site.update_faults(rig.index, api_delay_s=2.0)
    d = PyasicDriver(rig.address, timeouts=DriverTimeouts(read_s=0.5, read_retries=2,
                                                           retry_backoff_s=0.1))  # fmt: skip
    asyncio.get_running_loop().call_later(0.3, lambda: site.update_faults(rig.index,
                                                                         api_delay_s=0.0))
    r = await d.read()
    # the first try waits out its 0.5 s, the second is answered
    assert r.ok and r.attempts == 2 and r.watts == 3645
    assert 0.5 <= r.latency_s < 2 * 0.5 + 0.1 + SLACK_S
    site.update_faults(rig.index, api_delay_s=0.4)  # slow but inside the timeout
    slow = await PyasicDriver(rig.address, timeouts=DriverTimeouts(read_s=1.0)).read()
    assert slow.ok and slow.attempts == 1 and slow.latency_s >= 0.4


async def test_stale_reading_counts_as_unreachable() -> None:
    r = RigReading("127.0.0.1", True, RigState.HASHING, read_at=1000.0, watts=3000.0)
    assert r.planner_state(1010, max_age_s=30) == RigState.HASHING
    assert r.planner_state(1031, max_age_s=30) == RigState.UNREACHABLE
    failed = RigReading.unknown("127.0.0.1", "refused", 1000.0)
    assert failed.planner_state(1000, 30) == RigState.UNREACHABLE


class Counting:
    """A real driver, with in-flight calls counted (to see the fan-out's bound)."""

    def __init__(self, inner: PyasicDriver, box: dict[str, int]) -> None:
        self.inner, self.box = inner, box
        self.host, self.capabilities = inner.host, inner.capabilities

    async def _count(self, coro):
        self.box["now"] += 1
        self.box["max"] = max(self.box["max"], self.box["now"])
        try:
            return await coro
        finally:
            self.box["now"] -= 1

    async def read(self) -> RigReading:
        return await self._count(self.inner.read())

    async def apply(self, target: Target):
        return await self._count(self.inner.apply(target))


async def test_fanout_bounds_reads_and_the_dispatcher_window_and_audits(
    site: Fleet, tmp_path
) -> None:
    box = {"now": 0, "max": 0}
    drivers = [Counting(PyasicDriver(r.address, timeouts=FAST), box) for r in site.rigs]
    site.update_faults(site.rigs[0].index, unreachable="blackhole")
    fan = Fanout(concurrency=3)
    started = time.monotonic()
    arrived: list[int] = []
    readings = await fan.read_all(drivers, deadline_s=0.8,
                                  on_reading=lambda i, r: arrived.append(i))  # fmt: skip
    assert time.monotonic() - started < 0.8 + SLACK_S  # the silent rig holds it to its deadline
    assert box["max"] == 3
    assert not readings[0].ok and "no reading within 0.8 s" in readings[0].error
    assert all(r.ok for r in readings[1:])
    assert sorted(arrived) == list(range(len(drivers))) and arrived[-1] == 0  # silent: last
    awake = [k for k, r in enumerate(readings) if r.state == RigState.HASHING]
    sig = Signal("test:cut-1", "unannounced 30 % drop", allotment_mw=0.02, bound_by="test")
    log = AuditLog(tmp_path / "audit.jsonl")
    answered: list[str] = []

    def record(o: Order, res) -> None:
        answered.append(res.host)
        log.command("test", res, sig, plan_id="shed-1")

    box["max"] = 0
    # the silent rig first: it holds one place of the window, never the others' sheds
    orders = [Order(k, Target.sleep(), Command.SLEEP, "plan", 3000.0) for k in [0, *awake]]
    disp = Dispatcher(drivers, 2, on_send=lambda o: None, on_result=record)
    disp.submit(orders)
    await disp.flush()
    log.close()
    assert box["max"] <= 2 and disp.answered == len(orders)
    assert answered[-1] == drivers[0].host  # the silent rig's timeout comes last
    assert set(answered[:-1]) == {drivers[k].host for k in awake}
    for k in awake:
        await wait_state(site.rigs[k], SimState.SLEEPING)
    audited = list(read_audit(tmp_path / "audit.jsonl", kinds=("command",)))
    assert [a.rig for a in audited] == answered
    assert all(a.ok and a.command == "sleep" and a.signal == sig for a in audited[:-1])
    assert not audited[-1].ok


async def test_a_new_plan_replaces_the_orders_not_yet_sent(site: Fleet) -> None:
    """A cut arriving during a fan-out: the orders not yet sent are replaced by the new
    plan's, the ones on their way are answered, and a rig never has two at once."""
    drivers = [PyasicDriver(r.address, timeouts=FAST) for r in site.rigs]
    sent: list[Order] = []
    disp = Dispatcher(drivers, 1, on_send=sent.append, on_result=lambda o, r: None)
    names = {k: site.rigs[k].model.profiles[0].name for k in range(len(drivers))}
    first = [Order(k, Target.use_profile(names[k]), Command.SET, "plan", 100.0)
             for k in range(len(drivers))]  # fmt: skip
    cut = [Order(k, Target.sleep(), Command.SLEEP, "plan", 2000.0) for k in (0, 1)]
    task = asyncio.ensure_future(disp.run())
    try:
        disp.submit(first)
        while not sent:
            await asyncio.sleep(0.001)
        disp.submit(cut)  # the first order is on its way to rig 0; the rest are dropped
        await asyncio.wait_for(disp.wait_idle(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [(o.rig, o.command) for o in sent] == [(0, Command.SET), (0, Command.SLEEP),
                                                  (1, Command.SLEEP)]  # fmt: skip
    assert disp.replaced == len(first) - 1


class Broken(Counting):
    """A real driver whose calls fail with a bug (an exception, not a result)."""

    async def read(self) -> RigReading:
        raise RuntimeError("driver bug")

    async def apply(self, target: Target):
        raise RuntimeError("driver bug")


async def test_fanout_keeps_order_and_the_dispatcher_contains_a_driver_bug(site: Fleet) -> None:
    box = {"now": 0, "max": 0}
    drivers = [Counting(PyasicDriver(r.address, timeouts=FAST), box) for r in site.rigs]
    drivers[1] = Broken(drivers[1].inner, box)
    fan = Fanout(concurrency=2)
    readings = await fan.read_all(drivers)
    assert [r.host for r in readings] == [d.host for d in drivers]
    assert not readings[1].ok and readings[1].error == "RuntimeError: driver bug"
    assert all(r.ok for k, r in enumerate(readings) if k != 1) and box["max"] <= 2
    names = {d.host: site.by_address[d.host].model.profiles[0].name for d in drivers}
    orders = [Order(k, Target.use_profile(names[d.host]), Command.SET, "plan", 100.0)
              for k, d in enumerate(drivers)]  # fmt: skip
    results: dict[int, object] = {}
    disp = Dispatcher(drivers, 3, on_send=lambda o: None,
                      on_result=lambda o, r: results.__setitem__(o.rig, r))  # fmt: skip
    disp.submit(orders)
    await disp.flush()
    assert sorted(results) == list(range(len(drivers)))
    bug = results[1]
    assert not bug.ok and bug.error == "RuntimeError: driver bug"  # type: ignore[attr-defined]
    assert all(r.ok for k, r in results.items() if k != 1)  # type: ignore[attr-defined]
