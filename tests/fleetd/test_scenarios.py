"""fleetd against real rigsim rigs through real pyasic, time compressed (boot and ramp 1 s,
control period 1 s, holds 3-4 s): the scenarios of issue 6.

For each: the site's TRUE power (rigsim's meter, plus firm loads) against the cap in force;
zero above-cap energy for announced changes; back under the cap within one control period
plus the rigs' response for unannounced ones; hashrate within 2 % of the optimum computed
here from rigsim's own profile ladders once settled; no rig toggled inside its hold time
unless the cap required it (the audit record says so).

Real rigs on real time: a test waits until the site has settled (`until_settled`, with a
deadline) rather than for a fixed time, and a bound in real seconds is the config's (the
period, the rigs' response) plus SLACK_S, what a loaded machine may add.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from fleetd.allotment import ConstantSource, HttpJsonFeed, ScheduleSource
from fleetd.audit import read_audit
from rigsim.fleet import RigEvent
from rigsim.physics import RigState as SimState
from tests.fleetd.fleetd_rigsim import (
    FAST_TUNING,
    SLACK_S,
    Running,
    fleet_config,
    hold_violations,
    optimum_ths,
    run_site,
)
from tests.loopback_http import serve_app
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]

PERIOD = 1.0
RESPONSE = FAST_TUNING.response_s  # fan-out plus the rigs' 0.2 s shed
PUE = 1.1
MARGIN_W = 1000.0
HOLD_AWAKE, HOLD_ASLEEP = 4.0, 3.0
OPT_TOLERANCE = 0.02
SETTLE_S = 30.0  # deadline for a site to settle (it takes 3-10 s on an idle machine)


def rig_budget(cap_w: float, firm_w: float = 0.0) -> float:
    return (cap_w - MARGIN_W - firm_w) / PUE


def off_optimum(run: Running, t0: float, t1: float, budget_w: float, **kw: object) -> str:
    """What is wrong with the hashrate over [t0, t1) against the optimum ("" if nothing)."""
    got = run.truth.mean_ths(t0, t1)
    best = optimum_ths(run.fleet, budget_w, **kw)  # type: ignore[arg-type]
    if got > best * 1.001:
        return f"hashrate {got:.1f} above the optimum {best:.1f}: bad optimum"
    if got < best * (1 - OPT_TOLERANCE):
        return (f"hashrate {got:.1f} TH/s is {100 * (1 - got / best):.2f} % below the "
                f"optimum {best:.1f}")  # fmt: skip
    return ""


def assert_near_optimum(run: Running, t0: float, t1: float, budget_w: float, **kw: object) -> None:
    problem = off_optimum(run, t0, t1, budget_w, **kw)
    assert not problem, problem


async def until_settled(run: Running, budget_w: float, *, after: float = 0.0,
                        window_s: float = 2.0, under_s: float | None = None,
                        **kw: object) -> float:  # fmt: skip
    """Wait until the site has hashed near the optimum for `budget_w` over the last
    `window_s` and stayed under its cap over the last `under_s` (default: the same), both
    windows after `after`; returns that moment. Fails after SETTLE_S saying what was off."""
    under_s = window_s if under_s is None else under_s
    span = max(window_s, under_s)
    problem = ["not observed for long enough"]

    def settled() -> bool:
        now = time.time()
        if not run.truth.t or run.truth.t[0] > now - span or now - span < after:
            return False
        worst = run.truth.worst_over(now - under_s, now)
        problem[0] = (f"{worst:.0f} W above the cap" if worst > 0
                      else off_optimum(run, now - window_s, now, budget_w, **kw))  # fmt: skip
        return not problem[0]

    await wait_for(settled, SETTLE_S, lambda: f"a settled site: {problem[0]}", interval=0.2)
    return time.time()


def assert_holds(run: Running) -> None:
    bad = hold_violations(run.audit_path, HOLD_AWAKE, HOLD_ASLEEP)
    assert not bad, f"rigs toggled inside their hold time: {bad[:5]}"


def commands(run: Running) -> list:
    return list(read_audit(run.audit_path, kinds=("command",)))


async def test_unannounced_drop_of_30_percent(tmp_path: Path) -> None:
    cap0 = 360_000.0
    cap = {"w": cap0}
    src = ConstantSource(cap0 / 1e6, name="grid")

    async with run_site(fleet_config(), {}, lambda f: [src], tmp_path,
                        cap_w=lambda t: cap["w"]) as run:  # fmt: skip
        await until_settled(run, rig_budget(cap0))

        # the grid cuts 30 % without notice
        t_drop = time.time()
        src.mw = 0.7 * cap0 / 1e6
        cap["w"] = 0.7 * cap0
        deadline = t_drop + PERIOD + RESPONSE + SLACK_S
        t_end = await until_settled(run, rig_budget(0.7 * cap0), after=deadline)

        worst = run.truth.worst_over(deadline, t_end)
        assert worst <= 0.0, f"still {worst:.0f} W above the cap after {deadline - t_drop} s"
        # planned by the watch, or by a period step that came first: never a period late
        sigs = [r for r in read_audit(run.audit_path, kinds=("signal",)) if r.ts >= t_drop]
        assert sigs and sigs[0].ts - t_drop <= PERIOD + SLACK_S
        assert_holds(run)
        drop_cmds = [c for c in commands(run) if c.ts >= t_drop]
        assert drop_cmds and all(c.signal and "grid" in c.signal.reason for c in drop_cmds)


async def serve_json(payload: dict) -> tuple[str, web.AppRunner]:
    """A tiny loopback JSON endpoint whose reply the test changes through `payload`
    (payload["status"] other than 200 answers with that status)."""

    async def handler(request: web.Request) -> web.Response:
        status = int(payload.get("status", 200))
        if status != 200:
            return web.Response(status=status, text="unavailable")
        body = {k: (v() if callable(v) else v) for k, v in payload.items() if k != "status"}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handler)
    runner, base = await serve_app(app)
    return f"{base}/", runner


async def test_scheduled_drop_is_pre_shed(tmp_path: Path) -> None:
    cap0, cap1 = 360_000.0, 252_000.0
    t_cut = time.time() + 12.0  # settled (3-5 s idle, more when loaded) well before
    sched = ScheduleSource([time.time() - 100.0, t_cut], [cap0 / 1e6, cap1 / 1e6], name="day")

    def cap_w(t: float) -> float:
        return cap0 if t < t_cut else cap1

    async with run_site(fleet_config(), {}, lambda f: [sched], tmp_path, cap_w=cap_w) as run:
        t_settled = await until_settled(run, rig_budget(cap0))
        lead = PERIOD + RESPONSE  # how far ahead fleetd sheds a scheduled cut
        assert t_settled < t_cut - 3 * lead, "settled too late to see the cut pre-shed"
        t_end = await until_settled(run, rig_budget(cap1), after=t_cut)
        secs, joules = run.truth.above(t_settled, t_end)
        assert joules == 0.0, f"{joules:.0f} J ({secs:.2f} s) above a cap announced in advance"
        # the cut was met before it started, and not much earlier than the lead time
        t, w, _, _ = run.truth.arrays()
        under = t[(t < t_cut) & (w <= cap1)]
        assert under.size and under[0] >= t_cut - 3 * lead
        assert_holds(run)


async def test_rise_wakes_rigs_without_overshoot(tmp_path: Path) -> None:
    cap0, cap1 = 150_000.0, 300_000.0
    src = ConstantSource(cap0 / 1e6, name="grid")
    cap = {"w": cap0}
    async with run_site(fleet_config(), {}, lambda f: [src], tmp_path,
                        cap_w=lambda t: cap["w"]) as run:  # fmt: skip
        t_settled = await until_settled(run, rig_budget(cap0), window_s=1.5)
        asleep = run.fleet.state_counts()["sleeping"]  # as the rigs are, not as last read
        assert asleep > 0, "the low cap should have put rigs to sleep"
        src.mw, cap["w"] = cap1 / 1e6, cap1
        t_end = await until_settled(run, rig_budget(cap1), after=t_settled, window_s=1.5)
        assert run.truth.above(t_settled, t_end)[1] == 0.0
        assert run.controller.stats.commands[("wake", "ok")] > 0
        assert_holds(run)


async def test_stale_feed_falls_back_to_its_floor(tmp_path: Path) -> None:
    live, floor = 0.36, 0.22
    payload: dict = {"mw": live, "as_of": time.time}
    url, server = await serve_json(payload)
    feed = HttpJsonFeed("tso", url, interval_s=0.2, timeout_s=0.5, stale_after_s=1.5,
                        floor_mw=floor)  # fmt: skip
    state = {"stale_at": float("inf")}

    def cap_w(t: float) -> float:
        return floor * 1e6 if t >= state["stale_at"] else live * 1e6

    try:
        async with run_site(fleet_config(), {}, lambda f: [feed], tmp_path, cap_w=cap_w) as run:
            t_stop = await until_settled(run, rig_budget(live * 1e6), window_s=1.5)
            payload["status"] = 503  # the feed goes silent
            state["stale_at"] = t_stop + 1.5  # the floor applies from here at the latest
            deadline = state["stale_at"] + PERIOD + RESPONSE + SLACK_S
            t_end = await until_settled(run, rig_budget(floor * 1e6), after=deadline,
                                        window_s=1.5)  # fmt: skip
            assert feed.state.is_stale(t_end)
            assert run.controller.stats.allotment_stale
            assert run.truth.worst_over(deadline, t_end) <= 0.0
            assert_holds(run)
    finally:
        await server.cleanup()


async def test_unreachable_rigs_count_at_nameplate(tmp_path: Path) -> None:
    cap0 = 300_000.0
    rng = np.random.default_rng(5)
    lost: list[int] = []

    def cut_off(fleet) -> None:  # 10 % of the rigs stop answering, still hashing flat out
        lost.extend(int(i) for i in rng.choice(len(fleet.rigs), len(fleet.rigs) // 10, False))
        for i in lost:
            fleet.update_faults(i, unreachable="refuse")

    src = ConstantSource(cap0 / 1e6, name="grid")
    async with run_site(fleet_config(), {}, lambda f: [src], tmp_path, cap_w=lambda t: cap0,
                        before_start=cut_off) as run:  # fmt: skip
        plate = sum(run.site.catalog.model(run.fleet.rigs[i].model.key).nameplate_w for i in lost)
        await until_settled(run, rig_budget(cap0) - plate, under_s=3.0, exclude=lost)
        st = run.controller.stats
        assert st.rigs_unreachable == len(lost)
        lost_w = sum(run.fleet.rigs[i].true_w for i in lost)
        assert lost_w <= plate + 1.0  # counted at nameplate: never less than they draw
        assert_holds(run)


async def test_rig_that_drifts_awake_is_put_back_to_sleep(tmp_path: Path) -> None:
    cap0 = 150_000.0
    drift = [{"model": "S19jPro", "count": 10, "start": "hashing",
              "faults": {"fraction": 1.0, "drift_awake_after_s": 1.5}}]  # fmt: skip
    cfg = fleet_config(extra_groups=drift)
    src = ConstantSource(cap0 / 1e6, name="grid")
    episodes: list[float] = []
    woke: dict[int, float] = {}

    def watch(ev: RigEvent) -> None:  # the rig's own view: asleep -> awake by itself -> asleep
        i = ev.rig.index
        if ev.old == SimState.SLEEPING and ev.new == SimState.BOOTING and i not in woke:
            woke[i] = ev.at
        elif ev.new == SimState.SLEEPING and i in woke:
            episodes.append(ev.at - woke.pop(i))

    async with run_site(cfg, {}, lambda f: [src], tmp_path, cap_w=lambda t: cap0,
                        before_start=lambda f: f.subscribe(watch)) as run:  # fmt: skip
        t_start = time.time() + PERIOD + RESPONSE + SLACK_S  # the start-up shed is done
        st = run.controller.stats

        def drifted() -> bool:
            return st.drift_resleeps >= 5 and len(episodes) >= 5 and time.time() > t_start + 2
        await wait_for(drifted, SETTLE_S, lambda: f"5 re-sleeps ({st.drift_resleeps}) and "
                       f"5 drift episodes ({len(episodes)})")  # fmt: skip
        t_end = time.time()
        resleeps = [c for c in commands(run) if c.extra.get("why") == "drift: re-sleep"]
        assert resleeps and all(c.command == "sleep" and c.ok for c in resleeps)
        # the controller woke none of these rigs: every wake of a drifting rig was its own
        # (a wake the plan sent would show as a wake command to the rig)
        longest = max(episodes)
        assert longest <= PERIOD + RESPONSE + SLACK_S, f"a drifted rig stayed up {longest:.2f} s"
        # what the drifts cost: a booting rig draws ~120 W instead of 25 W while it is up
        _secs, joules = run.truth.above(t_start, t_end)
        assert joules <= len(episodes) * 200 * PUE * (PERIOD + RESPONSE + SLACK_S)
        assert_holds(run)


async def test_overheating_row_is_turned_down(tmp_path: Path) -> None:
    cap0 = 380_000.0
    hot_row = [{"model": "S21XP", "count": 15, "ambient_c": 52.0}]
    cfg = fleet_config(extra_groups=hot_row)
    src = ConstantSource(cap0 / 1e6, name="grid")
    async with run_site(cfg, {}, lambda f: [src], tmp_path, cap_w=lambda t: cap0) as run:
        row = [i for i, r in enumerate(run.fleet.rigs) if run.fleet.physics.ambient_c[i] > 50]
        assert len(row) == 15
        # the optimum: row rigs only at profiles whose chips stay under 80 C with fans flat out
        m = run.fleet.rigs[row[0]].model
        limit = (80.0 - 52.0) / m.rise_c
        await until_settled(run, rig_budget(cap0), under_s=8.0,
                            max_heat=dict.fromkeys(row, limit))  # fmt: skip
        assert max(run.truth.overheated[-40:]) == 0, "a rig of the hot row shut down"
        temps = run.fleet.physics.temp[row]
        assert float(np.max(temps)) < 85.0
        assert_holds(run)


async def test_firm_load_jump_is_absorbed(tmp_path: Path) -> None:
    cap0 = 380_000.0
    firm = {"kw": 20.0}
    url, server = await serve_json(firm)
    site = {"firm_loads": [{"name": "hall", "max_kw": 120.0, "meter": {
        "kind": "http_json", "url": url, "field": "kw", "unit": "kW",
        "interval_s": 0.2, "timeout_s": 0.5, "stale_after_s": 2.0}}]}  # fmt: skip
    src = ConstantSource(cap0 / 1e6, name="grid")
    try:
        async with run_site(fleet_config(), site, lambda f: [src], tmp_path,
                            cap_w=lambda t: cap0,
                            firm_w=lambda t: firm["kw"] * 1e3) as run:  # fmt: skip
            await until_settled(run, rig_budget(cap0, 20_000.0), window_s=1.5)
            assert run.controller.stats.firm_w == pytest.approx(20_000.0)
            t_jump = time.time()
            firm["kw"] = 70.0  # the AI hall starts a training run
            # one meter poll, then as a drop
            deadline = t_jump + 0.2 + PERIOD + RESPONSE + SLACK_S
            t_end = await until_settled(run, rig_budget(cap0, 70_000.0), after=deadline,
                                        window_s=1.5)  # fmt: skip
            assert run.truth.worst_over(deadline, t_end) <= 0.0
            assert run.controller.stats.firm_w == pytest.approx(70_000.0)
            assert_holds(run)
    finally:
        await server.cleanup()
