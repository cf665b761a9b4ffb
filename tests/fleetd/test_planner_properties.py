"""Properties that hold for every fleet and budget (hypothesis draws the fleets)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetd.models import DEFAULT_CATALOG, Firmware
from fleetd.planner import Command, FleetState, PlannerConfig, RigState, emergency_plan, plan

from .planner_support import planned_mask, rig_points

C = DEFAULT_CATALOG
CFG = PlannerConfig(min_awake_s=600, min_asleep_s=300, hysteresis=0.02)
RAMP = PlannerConfig(ramp_up_mw_per_min=0.05, ramp_down_mw_per_min=0.05, hysteresis=0.0)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

rig = st.tuples(
    st.integers(-1, len(C) - 1),  # model (-1 unknown)
    st.sampled_from(list(Firmware)),
    st.sampled_from(list(RigState)),
    st.floats(0, 1),  # where the current target sits in the rig's range
    st.one_of(st.just(np.inf), st.floats(0, 4500)),  # thermal cap
    st.one_of(st.just(np.inf), st.floats(0, 900)),  # seconds since last toggle
    st.booleans(),  # stale
)


@st.composite
def fleets(draw: st.DrawFn, max_rigs: int = 30) -> FleetState:
    rows = draw(st.lists(rig, min_size=1, max_size=max_rigs))
    model, fw, state, pos, cap, since, stale = (np.array(c) for c in zip(*rows, strict=True))
    stale = stale & (draw(st.floats(0, 1)) < 0.3)
    target = np.full(len(rows), np.nan)
    for i, m in enumerate(model):
        if m < 0 or state[i] in (RigState.SLEEPING,):
            continue
        w, _ = rig_points(C, int(m), int(fw[i]), np.inf)
        target[i] = w[0] + pos[i] * (w[-1] - w[0]) if fw[i] == 0 else w[int(pos[i] * (w.size - 1))]
    return FleetState.create(
        model, firmware=fw, state=state, target_w=target, stale=stale, cap_w=cap, since_s=since
    )


def _held_minimum(fleet: FleetState, p_unplanned: float) -> float:
    """Load if every rig held awake sits at its lowest point under its cap, others asleep."""
    total = p_unplanned
    for i in np.flatnonzero(planned_mask(fleet)):
        model = C.models[fleet.model[i]]
        w, _ = rig_points(C, int(fleet.model[i]), int(fleet.firmware[i]), fleet.cap_w[i])
        held = fleet.state[i] in (0, 2, 4) and fleet.since_s[i] < CFG.min_awake_s and w.size
        total += w[0] if held else model.sleep_w
    return total


@SETTINGS
@given(fleets(), st.floats(0, 1.2))
def test_never_over_budget_and_every_rig_in_range(fleet: FleetState, share: float) -> None:
    budget = share * (C.nameplate_w[np.maximum(fleet.model, 0)].sum() + 100)
    p = plan(fleet, budget, config=CFG)
    if p.infeasible:
        assert not p.awake[p.planned].any()
        assert (
            p.unplanned_w + sum(C.models[m].sleep_w for m in fleet.model[p.planned]) > budget - 1e-6
        )
    else:
        assert p.total_w <= budget + 1e-6
    assert np.isclose(p.total_w, p.power_w.sum())
    for i in np.flatnonzero(p.planned):
        model = C.models[fleet.model[i]]
        if not p.awake[i]:
            assert p.power_w[i] == model.sleep_w and p.hashrate_ths[i] == 0
            continue
        w, _ = rig_points(C, int(fleet.model[i]), int(fleet.firmware[i]), fleet.cap_w[i])
        assert w.size, "a rig that cannot run under its cap is never awake"
        assert w[0] - 1e-6 <= p.target_w[i] <= min(w[-1], fleet.cap_w[i]) + 1e-6
        if fleet.firmware[i] == Firmware.CONTINUOUS:
            assert p.profile[i] == -1
            assert np.isclose(p.hashrate_ths[i], model.ths_at(p.target_w[i]), rtol=1e-9)
        else:
            point = model.points(Firmware(int(fleet.firmware[i])))[p.profile[i]]
            assert point.watts == p.target_w[i] and point.ths == p.hashrate_ths[i]
    # unplanned rigs get no command and count at least at nameplate
    assert (p.command[~p.planned] == Command.KEEP).all()
    plate = np.where(fleet.model >= 0, C.nameplate_w[np.maximum(fleet.model, 0)], C.unknown_w)
    assert (p.power_w[~p.planned] >= plate[~p.planned]).all()


@SETTINGS
@given(fleets(), st.floats(0.05, 1.0), st.floats(0.0, 0.3))
def test_more_budget_never_less_hashrate(fleet: FleetState, share: float, more: float) -> None:
    plate = C.nameplate_w[np.maximum(fleet.model, 0)].sum()
    exact = PlannerConfig(hysteresis=0.0, min_awake_s=0, min_asleep_s=0)
    low = plan(fleet, share * plate, config=exact)
    high = plan(fleet, (share + more) * plate, config=exact)
    # all-or-nothing steps can cost at most one step's hashrate against monotonicity
    step = max(
        (p.ths for m in range(len(C)) for fw in Firmware for p in C.models[m].points(fw)),
        default=0.0,
    )
    if (fleet.firmware[planned_mask(fleet)] == Firmware.CONTINUOUS).all():
        assert high.total_ths >= low.total_ths - 1e-6
    else:
        assert high.total_ths >= low.total_ths - step


@SETTINGS
@given(fleets(), st.floats(0, 1.2))
def test_holds_respected_unless_the_cap_requires(fleet: FleetState, share: float) -> None:
    budget = share * (C.nameplate_w[np.maximum(fleet.model, 0)].sum() + 100)
    p = plan(fleet, budget, config=CFG)
    awake_now = np.isin(fleet.state, (RigState.HASHING, RigState.BOOTING, RigState.DERATED))
    planned = p.planned
    # never woken inside the sleep hold
    assert not (planned & ~awake_now & (fleet.since_s < CFG.min_asleep_s) & p.awake).any()
    slept_in_hold = planned & awake_now & (fleet.since_s < CFG.min_awake_s) & ~p.awake
    assert (p.hold_broken == slept_in_hold).all()
    if slept_in_hold.any():
        for i in np.flatnonzero(slept_in_hold):
            w, _ = rig_points(C, int(fleet.model[i]), int(fleet.firmware[i]), fleet.cap_w[i])
            if w.size:  # it could run: only the site cap may have forced it down
                assert _held_minimum(fleet, p.unplanned_w) > budget - 1e-6


@SETTINGS
@given(fleets(), st.floats(0, 1.2), st.floats(0.5, 30))
def test_ramp_limit(fleet: FleetState, share: float, dt: float) -> None:
    budget = share * (C.nameplate_w[np.maximum(fleet.model, 0)].sum() + 100)
    p = plan(fleet, budget, config=RAMP, dt_s=dt)
    step = RAMP.ramp_up_w_per_s * dt
    if not p.infeasible:
        assert p.total_w <= min(budget, max(p.current_w + step, p.limit_w)) + 1e-6
        assert p.limit_w <= max(p.current_w + step, _held_minimum(fleet, p.unplanned_w)) + 1e-6
    assert p.ramp_overridden == (budget < p.current_w - RAMP.ramp_down_w_per_s * dt - 1e-6)


@SETTINGS
@given(fleets())
def test_emergency_sleeps_all(fleet: FleetState) -> None:
    p = emergency_plan(fleet)
    assert (p.command == Command.SLEEP).all() and not p.awake.any() and p.total_ths == 0
    assert p.total_w <= plan(fleet, 1e9, config=CFG).total_w + 1e-6
