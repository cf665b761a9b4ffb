"""The controller's pure core (RigBook, thermal caps) and whole cycles against an
in-process rigsim fleet (its LuxOS API without sockets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fleetd.allotment import ConstantSource, OverrideSource, SiteAllotment
from fleetd.audit import AuditLog, read_audit
from fleetd.config import parse_config
from fleetd.control import (
    CycleReport,
    Order,
    RigBook,
    SampleLog,
    SiteController,
    ThermalCaps,
    ThermalPolicy,
)
from fleetd.control.site import ControlTuning, Site
from fleetd.drivers import ApplyResult, RigReading, Target
from fleetd.models import DEFAULT_CATALOG, Firmware
from fleetd.planner import Command, RigState, plan
from rigsim.clock import FakeClock
from rigsim.fleet import Fleet
from rigsim.physics import RigState as SimState
from tests.fleetd.fleetd_rigsim import FAST, InProcessDriver, fleet_config
from tests.waiting import wait_for

S21 = DEFAULT_CATALOG.model_id("S21")
S19 = DEFAULT_CATALOG.model_id("S19")


def book(n: int = 4, model: int = S21) -> RigBook:
    return RigBook([f"10.0.0.{i}" for i in range(n)], [model] * n, [Firmware.PROFILES] * n,
                   DEFAULT_CATALOG)  # fmt: skip


def reading(host: str, state: RigState, watts: float, now: float, **kw: object) -> RigReading:
    return RigReading(host=host, ok=True, state=state, read_at=now, watts=watts,
                      hashrate_ths=100.0 if state == RigState.HASHING else 0.0,
                      profile=kw.pop("profile", "500MHz"), **kw)  # type: ignore[arg-type]


def test_failed_or_stale_reading_counts_as_unreachable() -> None:
    b = book(2)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 100.0),
               RigReading.unknown("10.0.0.1", "refused", 100.0)])  # fmt: skip
    v = b.view(100.0, max_age_s=5, grace_s=2)
    assert v.fleet.state.tolist() == [RigState.HASHING, RigState.UNREACHABLE]
    v = b.view(120.0, max_age_s=5, grace_s=2)  # the good reading has grown old
    assert v.fleet.stale.tolist() == [True, True]
    p = plan(v.fleet, 1e9)
    assert p.unplanned_w == pytest.approx(2 * DEFAULT_CATALOG.nameplate_w[S21])


def test_told_to_sleep_but_drawing_is_hashing_and_not_resent_while_pending() -> None:
    b = book(1)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 0.0)])
    b.adopt_observed()
    o = b.orders(plan(b.view(0.0, max_age_s=5, grace_s=2).fleet, 0.0),
                 b.view(0.0, max_age_s=5, grace_s=2), 0.0, 2.0)  # fmt: skip
    assert [x.command for x in o] == [Command.SLEEP]
    b.sent(o[0], 0.0)
    b.result(o[0], ApplyResult("10.0.0.0", Target.sleep(), True, 0.1), np.nan)
    # still shedding a moment later: HASHING at its draw, planned to sleep, not sent again
    b.observe([reading("10.0.0.0", RigState.HASHING, 2000, 0.5)])
    v = b.view(0.5, max_age_s=5, grace_s=2)
    assert v.pending_sleep[0] and v.fleet.state[0] == RigState.HASHING
    assert v.fleet.cap_w[0] == 0.0
    p = plan(v.fleet, 1e9)
    assert p.command[0] == Command.SLEEP
    assert b.orders(p, v, 0.5, 2.0) == []


def test_rig_that_drifts_awake_is_re_slept() -> None:
    b = book(1)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 0.0)])
    b.adopt_observed()
    order = b.orders(plan(b.view(0, max_age_s=5, grace_s=2).fleet, 0.0),
                     b.view(0, max_age_s=5, grace_s=2), 0.0, 2.0)[0]  # fmt: skip
    b.sent(order, 0.0)
    b.result(order, ApplyResult("10.0.0.0", Target.sleep(), True, 0.1), np.nan)
    b.observe([reading("10.0.0.0", RigState.SLEEPING, 25, 0.6)])  # confirmed asleep
    b.observe([reading("10.0.0.0", RigState.BOOTING, 120, 1.2)])  # woke by itself
    v = b.view(1.2, max_age_s=5, grace_s=2)
    assert v.drifted[0] and not v.pending_sleep[0]
    assert v.fleet.since_s[0] == np.inf  # not held awake by a wake fleetd never gave
    p = plan(v.fleet, 1e9)  # plenty of power, still: it was told to sleep
    o = b.orders(p, v, 1.2, 2.0)
    assert [(x.command, x.why) for x in o] == [(Command.SLEEP, "drift: re-sleep")]


def test_a_reading_taken_while_shedding_and_judged_late_is_no_drift() -> None:
    """Issue 19, finding 9: a rig read while it still ramped down after its sleep, and
    judged only after the grace period (reads held up by silent rigs), never showed
    itself asleep: the sleep is retried, not counted as a drift. A drift needs a reading
    of the rig asleep after fleetd slept it, then one of it awake."""
    b = book(1)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 0.0)])
    b.adopt_observed()
    (o,) = b.orders(plan(b.view(0.0, max_age_s=30, grace_s=10).fleet, 0.0),
                    b.view(0.0, max_age_s=30, grace_s=10), 0.0, 10.0)  # fmt: skip
    b.sent(o, 0.0)
    b.result(o, ApplyResult("10.0.0.0", Target.sleep(), True, 0.1), np.nan)
    b.observe([reading("10.0.0.0", RigState.HASHING, 2000, 0.5)])  # still ramping down
    v = b.view(15.0, max_age_s=30, grace_s=10)
    assert not v.drifted[0] and v.lost_sleep is not None and v.lost_sleep[0]
    (again,) = b.orders(plan(v.fleet, 1e9), v, 15.0, 10.0)
    assert (again.command, again.why) == (Command.SLEEP, "retry")
    b.observe([reading("10.0.0.0", RigState.SLEEPING, 25, 15.5)])  # asleep after all
    b.observe([reading("10.0.0.0", RigState.BOOTING, 120, 16.0)])  # then up by itself
    v = b.view(16.0, max_age_s=30, grace_s=10)
    assert v.drifted[0]
    (resleep,) = b.orders(plan(v.fleet, 1e9), v, 16.0, 10.0)
    assert resleep.why == "drift: re-sleep"


def test_readings_asked_before_a_command_was_answered_are_not_taken() -> None:
    """Reads and commands run side by side: a reading whose request left before the
    rig's last command was answered (or while one was on its way) shows the rig as it
    was; it keeps the rig reachable but says nothing of its new state."""
    b = book(1)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 0.0, profile="500MHz")])
    b.adopt_observed()
    o = Order(0, Target.use_profile("400MHz"), Command.SET, "plan", 900.0)
    b.sent(o, 1.0)
    late = reading("10.0.0.0", RigState.HASHING, 3500, 1.5, profile="500MHz", latency_s=0.8)
    b.observe([late])  # asked at 0.7, while the command was on its way
    assert b.read_at[0] == 0.0 and b.seen_at[0] == 1.5
    b.result(o, ApplyResult("10.0.0.0", o.target, True, 2.0), 2600.0)
    b.observe([reading("10.0.0.0", RigState.HASHING, 3500, 2.4, profile="500MHz",
                       latency_s=0.6)])  # asked at 1.8: before the answer  # fmt: skip
    assert b.profile_w[0] == 2600.0 and b.readings_skipped == 2
    v = b.view(2.5, max_age_s=5, grace_s=2)
    assert v.fleet.target_w[0] == 2600.0 and not v.fleet.stale[0]


def test_lost_wake_is_retried_and_failures_marked() -> None:
    b = book(1)
    b.observe([reading("10.0.0.0", RigState.SLEEPING, 25, 0.0)])
    b.adopt_observed()
    v = b.view(0, max_age_s=5, grace_s=2)
    p = plan(v.fleet, 1e9)
    (o,) = b.orders(p, v, 0.0, 2.0)
    assert o.command == Command.WAKE and o.target.profile is not None
    b.sent(o, 0.0)
    b.result(o, ApplyResult("10.0.0.0", o.target, False, 0.1, error="refused"), 3000.0)
    b.observe([reading("10.0.0.0", RigState.SLEEPING, 25, 0.5)])
    v = b.view(0.5, max_age_s=5, grace_s=2)
    (again,) = b.orders(plan(v.fleet, 1e9), v, 0.5, 2.0)
    assert again.command == Command.WAKE and again.why == "retry"


def test_orders_shed_before_raising() -> None:
    b = RigBook(["a", "b"], [S19, S21], [Firmware.PROFILES] * 2, DEFAULT_CATALOG)
    b.observe([reading("a", RigState.HASHING, 3250, 0.0, profile="650MHz"),
               reading("b", RigState.SLEEPING, 25, 0.0)])  # fmt: skip
    b.adopt_observed()
    v = b.view(0.0, max_age_s=5, grace_s=2)
    p = plan(v.fleet, 2000.0)  # room for one rig: the S21 (better J/TH) replaces the S19
    o = b.orders(p, v, 0.0, 2.0)
    assert [x.command for x in o] == [Command.SLEEP, Command.WAKE]


def test_orders_of_a_mixed_fleet_carry_their_targets_in_shed_first_order() -> None:
    """Every firmware family and model at once, the budget cut to a third: each order
    carries the target for its firmware (profiles and modes by name, watts floored), the
    list runs sleeps and turn-downs (the most watts shed first), raises, wakes (best J/TH
    first), and sending records every order at once."""
    rng = np.random.default_rng(11)
    n = 120
    cat = DEFAULT_CATALOG
    models = rng.integers(0, len(cat), n)
    fws = rng.integers(0, len(Firmware), n)
    hosts = [f"10.0.{i // 200}.{i % 200}" for i in range(n)]
    b = RigBook(hosts, models.tolist(), fws.tolist(), cat)
    awake = rng.random(n) < 0.7
    b.observe([
        reading(h, RigState.HASHING, float(cat.nameplate_w[m]), 0.0, profile=None,
                power_limit_w=float(cat.nameplate_w[m])) if up
        else reading(h, RigState.SLEEPING, 25.0, 0.0, profile=None)
        for h, m, up in zip(hosts, models, awake, strict=True)
    ])  # fmt: skip
    b.adopt_observed()
    v = b.view(0.0, max_age_s=5, grace_s=2)
    p = plan(v.fleet, float(cat.nameplate_w[models].sum()) / 3)
    orders = b.orders(p, v, 0.0, 2.0)
    assert {o.command for o in orders} >= {Command.SLEEP, Command.SET}
    assert sorted(o.rig for o in orders) == np.flatnonzero(p.command != Command.KEEP).tolist()
    eff = cat.nameplate_ths / cat.nameplate_w
    ranks = []
    for o in orders:
        i, m = o.rig, cat.models[int(models[o.rig])]
        fw = Firmware(int(fws[i]))
        if o.command == Command.SLEEP:
            want = Target.sleep()
        elif fw == Firmware.CONTINUOUS:
            w = float(np.floor(p.target_w[i]))
            want = Target.wake(watts=w) if o.command == Command.WAKE else Target.limit_watts(w)
        else:
            name = m.points(fw)[int(p.profile[i])].name
            want = Target.wake(profile=name) if o.command == Command.WAKE else (
                Target.use_profile(name))  # fmt: skip
        assert o.target == want and o.why == "plan"
        e = float(eff[models[i]])
        shed = max(v.fleet.target_w[i], v.fleet.reported_w[i]) - p.power_w[i]
        if o.command == Command.SLEEP or (o.command == Command.SET and shed > 0):
            assert o.shed_w == pytest.approx(shed)
            ranks.append((0, -shed, e))  # the most watts off first
        elif o.command == Command.SET:
            ranks.append((1, -e, 0.0))
        else:
            ranks.append((2, -e, 0.0))
    assert ranks == sorted(ranks)
    b.sent_all(orders, 5.0)
    for o in orders:
        toggle = o.command in (Command.SLEEP, Command.WAKE)
        assert b.sent_at[o.rig] == 5.0 and b.sent_cmd[o.rig] == o.command
        assert b.sent_key[o.rig] == str(o.target) and b.confirmed[o.rig] == (not toggle)
    assert b.orders(p, v, 5.0, 2.0) == []  # all in flight: nothing is sent twice


def test_thermal_caps_step_down_hot_rigs_and_lift_slowly() -> None:
    pol = ThermalPolicy(hot_c=80, cool_c=70, step_frac=0.1, relax_after_s=10, settle_s=2)
    t = ThermalCaps(np.array([3500.0, 3500.0]), np.array([3700.0, 3700.0]), pol)
    fresh = np.array([True, True])
    hashing = np.array([RigState.HASHING, RigState.DERATED])
    t.update(0.0, fresh=fresh, state=hashing, temp_c=np.array([85.0, 95.0]),
             running_w=np.array([3500.0, 3500.0]))  # fmt: skip
    assert t.cap_w.tolist() == [3150.0, 0.0]  # one step down; overheated: sleep it
    t.update(1.0, fresh=fresh, state=hashing, temp_c=np.array([85.0, 95.0]),
             running_w=np.array([3150.0, 3500.0]))  # fmt: skip
    assert t.cap_w[0] == 3150.0  # waits for the chips to settle
    cool = np.array([RigState.HASHING, RigState.SLEEPING])
    t.update(5.0, fresh=fresh, state=cool, temp_c=np.array([60.0, 30.0]),
             running_w=np.array([3100.0, np.nan]))  # fmt: skip
    assert t.cap_w[0] == 3150.0  # cool, but not for long enough
    t.update(12.0, fresh=fresh, state=cool, temp_c=np.array([60.0, 30.0]),
             running_w=np.array([3100.0, np.nan]))  # fmt: skip
    assert t.cap_w[0] == 3500.0 and t.cap_w[1] == 1750.0


# ---------------------------------------------------------------------- whole cycles


def in_process_site(fleet: Fleet, tmp: Path, mw: float,
                    clock: Callable[[], float] = time.time,
                    ) -> tuple[SiteController, ConstantSource]:  # fmt: skip
    rigs = [{"host": r.address, "model": r.model.key} for r in fleet.rigs]
    cfg = parse_config({"audit": {"path": str(tmp / "a.jsonl")}, "sites": {"s": {
        "control_period_s": 1.0, "min_awake_s": 2.0, "min_asleep_s": 1.0, "margin_kw": 1.0,
        "overhead": {"pue": 1.1}, "allotment": [{"kind": "constant", "mw": mw}],
        "rigs": rigs}}})  # fmt: skip
    src = ConstantSource(mw, name="grid")
    drivers = [InProcessDriver(fleet, i, clock=clock) for i in range(len(fleet.rigs))]
    tuning = ControlTuning(response_s=0.5, watch_s=0.05)
    site = Site("s", cfg.sites["s"], cfg.rigs("s"), SiteAllotment([src, OverrideSource()]),
                drivers, tuning=tuning, clock=clock)  # fmt: skip
    ctl = SiteController(site, audit=AuditLog(tmp / "a.jsonl", clock=clock),
                         samples=SampleLog(tmp / "a.samples.jsonl"))  # fmt: skip
    return ctl, src


async def test_cycle_fits_the_budget_and_audits_every_command(tmp_path: Path) -> None:
    """On one fake clock for the rigs and fleetd: the rigs shed in simulated seconds."""
    clock = FakeClock(1_900_000_000.0)
    fleet = Fleet(fleet_config((("S19jPro", 6), ("S21", 6))), clock=clock)
    ctl, _ = in_process_site(fleet, tmp_path, 0.02, clock=clock.now)
    rep = await ctl.cycle("start")
    assert rep.plan.total_w <= rep.budget.miner_w + 1e-6
    assert rep.budget.miner_w == pytest.approx((20_000 - 1_000) / 1.1)
    assert fleet.site_meter_w()["s"] > 20_000  # ordered down, not yet shed
    clock.advance(FAST["shed_s"] + FAST["ramp_up_s"])  # the rigs shed and ramp
    fleet.advance()
    assert fleet.site_meter_w()["s"] <= 20_000
    ctl.audit.flush()  # type: ignore[union-attr]
    recs = list(read_audit(tmp_path / "a.jsonl", kinds=("command",)))
    assert len(recs) == rep.orders == sum(ctl.stats.commands.values())
    assert all(r.signal is not None and r.signal.change_id == "grid:0.02" for r in recs)
    rep2 = await ctl.cycle("period")  # verified: nothing left to send
    assert rep2.orders == 0
    ctl.audit.close()  # type: ignore[union-attr]


async def test_a_drop_re_plans_at_once_and_emergency_stop_holds(tmp_path: Path) -> None:
    fleet = Fleet(fleet_config((("S19jPro", 6), ("S21", 6))))
    fleet.read_staleness_s = 0.0
    ctl, src = in_process_site(fleet, tmp_path, 0.03)
    steps: list[str] = []  # why each plan step ran
    dropped: list[int] = []  # the number of steps when the allotment dropped

    def on_cycle(report: CycleReport) -> None:
        steps.append(report.reason)
        if report.reason == "period" and ctl.reader.read_once() and not dropped:
            src.mw = 0.015  # right after a period's plan: the next period is a period away
            dropped.append(len(steps))

    def settled(check: Callable[[], bool]) -> Callable[[], bool]:
        return lambda: fleet.advance() is not None and check()

    ctl.on_cycle = on_cycle
    task = asyncio.create_task(ctl.run())
    try:
        await wait_for(lambda: dropped and len(steps) > dropped[0], 10.0, "a plan after the drop")
        assert steps[dropped[0]].startswith("budget drop")  # the watch saw it; not the period
        assert ctl.stats.replans_triggered >= 1
        assert ctl.last_budget is not None and ctl.last_budget.allotment_w == 15_000
        await ctl.emergency_stop(by="test", reason="drill")
        await wait_for(settled(lambda: all(r.state == SimState.SLEEPING for r in fleet.rigs)),
                       10.0, "every rig asleep")  # fmt: skip
        assert ctl.summary()["emergency"] is True
        await ctl.resume(by="test")
        await wait_for(settled(lambda: fleet.site_hashrate_ths()["s"] > 0), 10.0, "hashing again")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        ctl.audit.close()  # type: ignore[union-attr]
    notes = [r.extra.get("text") for r in read_audit(tmp_path / "a.jsonl", kinds=("note",))]
    assert "emergency stop" in notes and "resume after emergency stop" in notes
