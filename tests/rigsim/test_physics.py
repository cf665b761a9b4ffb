"""Rig physics under an explicit clock: boot, ramp, heat, and every fault."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rigsim.models import MODELS, RigModel
from rigsim.physics import FleetPhysics, PhysicsGroup, RigState

S19J = MODELS["S19jPro"].with_overrides(boot_s=120.0, ramp_up_s=60.0, shed_s=4.0, api_down_s=30.0)


def one_rig(
    model: RigModel = S19J,
    start: RigState = RigState.HASHING,
    ambient: float = 25.0,
    profile: str = "default",
) -> FleetPhysics:
    return FleetPhysics([PhysicsGroup(model, 1, ambient, start, profile)], now=0.0)


def test_starts_at_nameplate_and_thermal_equilibrium() -> None:
    ph = one_rig()
    r = ph.reading(0, 0.0)
    assert r.state == RigState.HASHING
    assert r.ths == pytest.approx(104.0)
    assert r.true_w == pytest.approx(3050.0)
    assert r.chip_temp_c == pytest.approx(S19J.target_c, abs=0.5)  # fans hold the target
    assert 0.5 < r.fan_fraction < 1.0


def test_wake_boots_then_ramps_then_hashes() -> None:
    ph = one_rig(start=RigState.SLEEPING)
    assert ph.reading(0, 0.0).true_w == pytest.approx(S19J.sleep_w)
    ph.wake(0, 10.0)
    ph.advance(10.0 + 119.0)
    r = ph.reading(0, 129.0)
    assert r.state == RigState.BOOTING and r.ths == 0.0
    assert r.true_w == pytest.approx(S19J.base_w)  # control board and fans only
    ph.advance(10.0 + 120.0 + 30.0)  # half way up the ramp
    r = ph.reading(0, 160.0)
    assert r.state == RigState.RAMPING
    assert r.ths == pytest.approx(52.0, rel=0.01)
    ph.advance(10.0 + 120.0 + 60.0 + 0.01)
    r = ph.reading(0, 190.01)
    assert r.state == RigState.HASHING
    assert r.ths == pytest.approx(104.0, rel=1e-3)


def test_one_big_step_resolves_chained_transitions_at_exact_times() -> None:
    ph = one_rig(start=RigState.SLEEPING)
    ph.wake(0, 0.0)
    ph.advance(3600.0)
    assert ph.reading(0, 3600.0).state == RigState.HASHING
    assert ph.reading(0, 3600.0).uptime_s == pytest.approx(3600.0)


def test_sleep_sheds_within_seconds_and_drops_to_sleep_draw() -> None:
    ph = one_rig()
    ph.sleep(0, 100.0)
    ph.advance(102.0)
    mid = ph.reading(0, 102.0)
    assert mid.state == RigState.RAMPING and 0 < mid.ths < 104.0
    ph.advance(104.0)
    r = ph.reading(0, 104.0)
    assert r.state == RigState.SLEEPING
    assert r.ths == 0.0 and r.true_w == pytest.approx(25.0)
    assert r.fan_rpm == 0


def test_profile_down_is_fast_and_up_is_slow() -> None:
    ph = one_rig()
    low = S19J.profiles[0]
    ph.set_profile(0, 0, 0.0)
    ph.advance(S19J.shed_s + 0.01)
    r = ph.reading(0, 4.01)
    assert r.state == RigState.HASHING
    assert r.true_w == pytest.approx(low.watts, abs=1)
    assert r.ths == pytest.approx(low.ths, rel=1e-3)
    nominal = S19J.profile_index("default")
    ph.set_profile(0, nominal, 10.0)
    ph.advance(10.0 + S19J.shed_s + 1)
    assert ph.reading(0, 15.0).state == RigState.RAMPING  # still climbing
    ph.advance(10.0 + S19J.ramp_up_s + 0.01)
    assert ph.reading(0, 70.01).ths == pytest.approx(104.0, rel=1e-3)


def test_profile_chosen_while_asleep_applies_on_wake() -> None:
    ph = one_rig(start=RigState.SLEEPING)
    ph.set_profile(0, 2, 0.0)
    assert ph.reading(0, 0.0).state == RigState.SLEEPING
    ph.wake(0, 1.0)
    ph.advance(1.0 + 120.0 + 60.0 + 1.0)
    assert ph.reading(0, 182.0).ths == pytest.approx(S19J.profiles[2].ths, rel=1e-3)


def test_underclocking_lowers_joules_per_terahash() -> None:
    jth = [p.watts / p.ths for p in S19J.profiles]
    assert all(a < b for a, b in itertools.pairwise(jth))


def test_hot_ambient_derates_and_keeps_chips_near_hot_limit() -> None:
    ph = one_rig(ambient=48.0)
    ph.advance(3600.0)
    r = ph.reading(0, 3600.0)
    assert r.state == RigState.HASHING
    assert r.fan_fraction == pytest.approx(1.0)
    assert S19J.hot_c < r.chip_temp_c < S19J.danger_c
    assert r.derate < 1.0
    assert r.ths < 104.0 * r.derate + 1e-6
    assert r.true_w < 3050.0


def test_cool_ambient_does_not_derate() -> None:
    ph = one_rig(ambient=10.0)
    ph.advance(3600.0)
    r = ph.reading(0, 3600.0)
    assert r.derate == 1.0 and r.ths == pytest.approx(104.0)
    assert r.fan_fraction < 0.8  # less air needed


def test_dead_fans_overheat_and_shut_down_then_recover_when_fixed() -> None:
    ph = one_rig()
    ph.set_fans_failed(0, 4, 0.0)
    ph.advance(120.0)
    r = ph.reading(0, 120.0)
    assert r.state == RigState.OVERHEATED
    assert r.ths == 0.0 and r.true_w == pytest.approx(S19J.base_w)
    ph.set_fans_failed(0, 0, 120.0)
    ph.advance(120.0 + 10 * S19J.tau_s)  # cools, reboots, ramps
    assert ph.reading(0, 1020.0).state in (RigState.BOOTING, RigState.RAMPING, RigState.HASHING)
    ph.advance(3000.0)
    assert ph.reading(0, 3000.0).state == RigState.HASHING


def test_drift_fault_wakes_a_slept_rig_by_itself() -> None:
    ph = one_rig()
    ph.set_drift(0, 600.0, 0.0)
    ph.sleep(0, 0.0)
    ph.advance(600.0)
    assert ph.reading(0, 600.0).state == RigState.SLEEPING
    ph.advance(S19J.shed_s + 600.0 + 1.0)
    assert ph.reading(0, 605.0).state == RigState.BOOTING
    ph.advance(2000.0)
    assert ph.reading(0, 2000.0).state == RigState.HASHING
    ph.set_drift(0, None, 2000.0)
    ph.sleep(0, 2000.0)
    ph.advance(9000.0)
    assert ph.reading(0, 9000.0).state == RigState.SLEEPING


def test_failed_hashboard_loses_its_share_of_hashrate_and_power() -> None:
    ph = one_rig()
    ph.set_failed_boards(0, [2], 0.0)
    r = ph.reading(0, 0.0)
    assert r.boards_ok == (True, False, True)
    assert r.ths == pytest.approx(104.0 * 2 / 3)
    boards_w = 3050.0 - S19J.base_w
    assert r.true_w == pytest.approx(S19J.base_w + boards_w * 2 / 3)
    ph.set_failed_boards(0, [], 1.0)
    assert ph.reading(0, 1.0).ths == pytest.approx(104.0)


def test_all_boards_dead_is_failed_until_repaired_and_rebooted() -> None:
    ph = one_rig()
    ph.set_failed_boards(0, [1, 2, 3], 0.0)
    assert ph.reading(0, 0.0).state == RigState.FAILED
    ph.wake(0, 1.0)
    assert ph.reading(0, 1.0).state == RigState.FAILED
    ph.set_failed_boards(0, [], 2.0)
    ph.reboot(0, 2.0)
    r = ph.reading(0, 2.0)
    assert r.state == RigState.BOOTING and r.api_down_until == pytest.approx(32.0)
    ph.advance(400.0)
    assert ph.reading(0, 400.0).state == RigState.HASHING


def test_meter_mismatch_reports_a_power_it_does_not_draw() -> None:
    ph = one_rig()
    ph.set_report_factor(0, 0.85, 0.0)
    r = ph.reading(0, 0.0)
    assert r.true_w == pytest.approx(3050.0)
    assert r.reported_w == pytest.approx(3050.0 * 0.85)


def test_a_command_on_one_rig_does_not_advance_the_others() -> None:
    ph = FleetPhysics([PhysicsGroup(S19J, 3, 25.0, RigState.SLEEPING)], now=0.0)
    ph.wake(1, 5.0)
    assert list(ph.t_last) == [0.0, 5.0, 0.0]
    ph.advance(1000.0)
    assert [RigState(s) for s in ph.state] == [
        RigState.SLEEPING,
        RigState.HASHING,
        RigState.SLEEPING,
    ]


def test_spread_is_seeded_and_bounded() -> None:
    g = [PhysicsGroup(S19J, 500, 25.0, RigState.HASHING, hashrate_spread=0.03)]
    a, b = FleetPhysics(g, now=0.0, seed=3), FleetPhysics(g, now=0.0, seed=3)
    assert np.array_equal(a.ths, b.ths)
    assert 0.02 < np.std(a.ths / 104.0) < 0.04


def test_hundred_thousand_rigs_advance_together() -> None:
    """How long a tick takes is benchmarks/rigsim.py's (no-socket), not this test's."""
    groups = [PhysicsGroup(m, 100_000 // len(MODELS), 25.0) for m in MODELS.values()]
    ph = FleetPhysics(groups, now=0.0)
    idx = np.arange(0, ph.n, 3)
    ph.sleep(idx, 0.0)
    for k in range(1, 11):
        ph.advance(k * 0.5)
    assert np.all(ph.state[idx] == RigState.SLEEPING)
