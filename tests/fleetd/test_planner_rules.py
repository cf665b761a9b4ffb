"""The planner's rules, one at a time, on small hand-built fleets."""

from __future__ import annotations

import numpy as np
import pytest

from fleetd.models import DEFAULT_CATALOG, Firmware, ModelCatalog, RigModel
from fleetd.planner import (
    Command,
    FleetState,
    FleetStateError,
    PlanError,
    PlannerConfig,
    RigState,
    emergency_plan,
    plan,
)
from fleetd.planner.fleet import advance

C = DEFAULT_CATALOG
S19, S21XP, S21 = C.model_id("S19"), C.model_id("S21 XP"), C.model_id("S21")
NO_HOLDS = PlannerConfig(min_awake_s=0, min_asleep_s=0, hysteresis=0.0)


def test_sheds_worst_j_per_th_first_and_restores_best_first() -> None:
    # stock firmware: sleep / low / normal only, so shedding means sleeping whole rigs
    models = [S19] * 5 + [S21XP] * 5
    fleet = FleetState.create(models, firmware=Firmware.MODES, state=RigState.HASHING,
                              target_w=[C.models[m].nameplate_w for m in models])  # fmt: skip
    full = sum(C.models[m].nameplate_w for m in models)
    p = plan(fleet, full * 0.55, config=NO_HOLDS)
    s19_awake = p.awake[:5].sum()
    assert p.awake[5:].all(), "the efficient S21 XPs keep running"
    assert s19_awake < 5
    assert (p.command[:5][~p.awake[:5]] == Command.SLEEP).all()
    # restoring: from all asleep, a small budget wakes the best J/TH first
    asleep = FleetState.create(models, firmware=Firmware.MODES, state=RigState.SLEEPING)
    p = plan(asleep, 3 * 3700.0, config=NO_HOLDS)
    assert p.awake[5:].sum() >= 3 and not p.awake[:5].any()


def test_underclocking_many_beats_sleeping_some() -> None:
    fleet = FleetState.create([S21] * 10, firmware=Firmware.CONTINUOUS, state=RigState.HASHING,
                              target_w=3500.0)  # fmt: skip
    p = plan(fleet, 10 * 3500.0 * 0.5, config=NO_HOLDS)
    assert p.awake.all(), "half the power spread over all rigs, each underclocked"
    on_off = 5 * 200.0  # five rigs at nameplate, five asleep
    assert p.total_ths > on_off * 1.2
    assert (p.command == Command.SET).all()


def test_non_convex_wake_jump_picks_the_best_average_point() -> None:
    # a rig whose low points are poor (big fixed draw): waking is only worth it higher up
    odd = RigModel.from_points(
        "Odd", nameplate_ths=100, nameplate_w=3000, sleep_w=25,
        curve=[(1000, 10), (1500, 40), (2000, 65), (2500, 85), (3000, 100)],
    )  # fmt: skip
    cat = ModelCatalog((odd,))
    fleet = FleetState.create([0] * 4, firmware=Firmware.CONTINUOUS)
    p = plan(fleet, 4 * 25 + 2000.0, catalog=cat, config=NO_HOLDS)
    # average TH per W from sleep is best at 2000 W (65/1975): one rig there, not two at 1000
    assert p.awake.sum() == 1
    assert p.target_w[p.awake][0] == pytest.approx(2000.0)
    assert p.total_ths == pytest.approx(65.0)


def test_thermal_cap_limits_targets_and_wins_over_hold() -> None:
    fleet = FleetState.create(
        [S21] * 3, firmware=[Firmware.CONTINUOUS, Firmware.PROFILES, Firmware.CONTINUOUS],
        state=RigState.HASHING, target_w=3500.0, cap_w=[2000.0, 2000.0, 500.0], since_s=1.0,
    )  # fmt: skip
    p = plan(fleet, 1e6)
    assert p.target_w[0] <= 2000.0 and p.target_w[0] > 1990.0
    prof = C.models[S21].profiles[p.profile[1]]
    assert prof.watts <= 2000.0 and p.target_w[1] == prof.watts
    # the third rig cannot run under 500 W: it sleeps although it woke a second ago
    assert not p.awake[2] and p.command[2] == Command.SLEEP and p.hold_broken[2]


def test_unreachable_stale_and_unknown_rigs_count_at_nameplate_and_get_no_command() -> None:
    fleet = FleetState.create(
        [S21, S21, -1, S21], state=[RigState.UNREACHABLE, RigState.HASHING, RigState.HASHING,
                                    RigState.SLEEPING],
        stale=[False, True, False, False], target_w=[np.nan, 3900.0, np.nan, np.nan],
        reported_w=[np.nan, 3700.0, 4100.0, 30.0],
    )  # fmt: skip
    p = plan(fleet, 20000.0, config=NO_HOLDS)
    assert not p.planned[:3].any() and p.planned[3]
    assert (p.command[:3] == Command.KEEP).all()
    assert p.power_w[0] == 3500.0 and p.power_w[1] == 3900.0
    assert p.power_w[2] == max(C.unknown_w, 4100.0)
    assert p.unplanned_w == pytest.approx(3500 + 3900 + max(C.unknown_w, 4100.0))
    assert p.total_w <= 20000.0
    assert p.awake[3] and p.power_w[3] <= 20000.0 - p.unplanned_w


def test_booting_rigs_count_at_target_and_are_not_woken_twice() -> None:
    booting = [RigState.BOOTING, RigState.BOOTING, RigState.SLEEPING, RigState.SLEEPING]
    fleet = FleetState.create([S21] * 4, firmware=Firmware.MODES, state=booting,
                              target_w=[3500, 3500, np.nan, np.nan],
                              since_s=[30.0, 30.0, 1e9, 1e9])  # fmt: skip
    p = plan(fleet, 2 * 3500 + 2 * 25 + 1.0)
    assert p.current_w == pytest.approx(2 * 3500 + 2 * 25)
    assert p.awake[:2].all() and not p.awake[2:].any()
    assert (p.command == Command.KEEP).all()
    assert p.ready_in_s[0] == pytest.approx(C.models[S21].boot_s - 30.0)
    # with room for more, rigs woken now report their whole boot time
    p = plan(fleet, 4 * 3500.0)
    woken = np.flatnonzero(p.command == Command.WAKE)
    assert woken.size == 2 and (p.ready_in_s[woken] == C.models[S21].boot_s).all()


def test_hold_times_stop_flapping() -> None:
    """A jittering budget: no rig toggles inside its hold unless the cap forces a sleep."""
    cfg = PlannerConfig(min_awake_s=600, min_asleep_s=300, hysteresis=0.0)
    low_w = C.models[S21].modes[0].watts
    fleet = FleetState.create([S21] * 6, firmware=Firmware.MODES)
    toggles = np.zeros(6, dtype=int)
    rng = np.random.default_rng(1)
    forced = 0
    for _ in range(180):  # 30 minutes in 10 s steps, budget jittering over 2..4 rigs
        budget = rng.uniform(2, 4) * 3500 + 150
        p = plan(fleet, budget, config=cfg, dt_s=10.0)
        assert p.total_w <= budget + 1e-6
        slept = p.command == Command.SLEEP
        woke = p.command == Command.WAKE
        assert (fleet.since_s[woke] >= 300).all(), "never woken inside the sleep hold"
        early = slept & (fleet.since_s < 600)
        if early.any():
            held = np.isin(fleet.state, (RigState.HASHING, RigState.BOOTING))
            held &= fleet.since_s < 600
            assert held.sum() * low_w + (~held).sum() * 25.0 > budget, "broken only for the cap"
            assert p.hold_broken[early].all()
            forced += int(early.sum())
        toggles += slept | woke
        fleet = advance(fleet, p.command, p.target_w, 10.0)
    assert toggles.max() <= 1 + 1800 // 300 + forced
    assert toggles.sum() < 6 * 180 // 10


def test_cap_wins_over_holds_worst_first() -> None:
    models = [S19, S19, S21XP, S21XP]
    fleet = FleetState.create(models, firmware=Firmware.MODES, state=RigState.HASHING,
                              target_w=[3250, 3250, 3645, 3645], since_s=5.0)  # fmt: skip
    low = {m: C.models[m].modes[0].watts for m in (S19, S21XP)}
    # the S21 XPs and one S19 at "low", the other S19 asleep
    budget = 2 * low[S21XP] + low[S19] + 25 + 10.0
    p = plan(fleet, budget)
    assert p.total_w <= budget
    # all four at "low" break the cap; releasing one S19 (the worst J/TH) is enough
    assert p.awake[:2].sum() == 1 and p.awake[2:].all()
    assert p.hold_broken[:2].sum() == 1 and not p.hold_broken[2:].any()


def test_infeasible_budget_sleeps_everything_and_says_so() -> None:
    fleet = FleetState.create([S21, S21, S21], state=[RigState.UNREACHABLE, RigState.HASHING,
                              RigState.HASHING], target_w=3500.0, since_s=1.0)  # fmt: skip
    p = plan(fleet, 3000.0)
    assert p.infeasible
    assert not p.awake[1:].any() and (p.command[1:] == Command.SLEEP).all()


def test_ramp_up_limit_and_flags() -> None:
    cfg = PlannerConfig(ramp_up_mw_per_min=0.06, ramp_down_mw_per_min=0.06, hysteresis=0.0,
                        min_awake_s=0, min_asleep_s=0)  # fmt: skip
    fleet = FleetState.create([S21] * 20, firmware=Firmware.CONTINUOUS)
    p = plan(fleet, 70000.0, config=cfg, dt_s=10.0)  # 0.06 MW/min = 1000 W/s -> +10 kW
    assert p.ramp_limited and p.total_w <= p.current_w + 10000.0 + 1e-6
    assert p.total_w > p.current_w + 9000.0
    up = FleetState.create([S21] * 20, firmware=Firmware.CONTINUOUS, state=RigState.HASHING,
                           target_w=3500.0)  # fmt: skip
    p = plan(up, 30000.0, config=cfg, dt_s=10.0)
    assert p.ramp_overridden and p.total_w <= 30000.0  # the cap still wins


def test_wake_budget_holds_new_wakes_but_feeds_running_rigs() -> None:
    """A lower cap is due within a wake's hold: whatever is woken now must still fit it at
    its lowest point; rigs already up may take the rest."""
    fleet = FleetState.create([S21] * 6, firmware=Firmware.CONTINUOUS,
                              state=[RigState.HASHING] * 2 + [RigState.SLEEPING] * 4,
                              target_w=[2000, 2000, np.nan, np.nan, np.nan, np.nan])  # fmt: skip
    wake_budget = 3 * 1400.0 + 3 * 25
    p = plan(fleet, 6 * 3500.0, wake_budget_w=wake_budget)
    committed = p.awake.sum() * C.models[S21].min_w + (~p.awake).sum() * 25.0
    assert committed <= wake_budget
    assert p.awake.sum() < 6
    assert p.total_w > wake_budget + 2000, "running rigs go above the wake budget"
    assert p.target_w[:2] == pytest.approx([C.models[S21].max_w] * 2)
    assert plan(fleet, 6 * 3500.0).awake.all()


def test_replanning_an_applied_plan_sends_nothing() -> None:
    rng = np.random.default_rng(5)
    n = 400
    fleet = FleetState.create(rng.integers(0, len(C), n), firmware=rng.integers(0, 3, n))
    budget = 0.5 * C.nameplate_w[fleet.model].sum()
    p = plan(fleet, budget)
    fleet = advance(fleet, p.command, p.target_w, 1000.0)
    p2 = plan(fleet, budget)
    counts = p2.counts()
    assert counts["wake"] == 0 and counts["sleep"] == 0
    assert counts["set"] <= 2
    assert p2.total_ths == pytest.approx(p.total_ths, rel=1e-3)


def test_emergency_sleeps_every_rig_ignoring_holds() -> None:
    fleet = FleetState.create([S21, S19, -1], state=[RigState.HASHING, RigState.BOOTING,
                              RigState.UNREACHABLE], target_w=3000.0, since_s=1.0)  # fmt: skip
    p = emergency_plan(fleet)
    assert p.emergency and (p.command == Command.SLEEP).all() and not p.awake.any()
    assert p.total_ths == 0.0
    assert p.power_w[0] == C.models[S21].sleep_w and p.target_w[1] == C.models[S19].sleep_w
    assert p.power_w[2] == max(C.unknown_w, 3000.0)
    assert p.hold_broken[:2].all()


def test_bad_input_is_named() -> None:
    with pytest.raises(PlanError, match="budget_w"):
        plan(FleetState.create([0]), float("nan"))
    with pytest.raises(FleetStateError, match="model"):
        plan(FleetState.create([len(C)]), 1000.0)
    with pytest.raises(FleetStateError, match="cap_w"):
        plan(FleetState.create([0], cap_w=-1.0), 1000.0)
    with pytest.raises(FleetStateError, match="target_w: expected shape"):
        FleetState.create([0, 1], target_w=[1.0, 2.0, 3.0])
    with pytest.raises(FleetStateError, match="since_s"):
        plan(FleetState.create([0], since_s=np.nan), 1000.0)


def test_empty_fleet() -> None:
    p = plan(FleetState.create(np.array([], dtype=int)), 1000.0)
    assert len(p) == 0 and p.total_w == 0.0
