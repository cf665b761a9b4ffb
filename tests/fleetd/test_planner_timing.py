"""Response times in the planner (fleetd.planner.timing): a cut sheds the fastest rigs
first, no reduction is counted before it lands, a swap waits for its sheds, and within
each rig's granularity."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetd.models import DEFAULT_CATALOG as C
from fleetd.models import Firmware
from fleetd.planner import Command, FleetState, PlannerConfig, RigState, plan

FREE = PlannerConfig(min_awake_s=0, min_asleep_s=0, hysteresis=0.0)
S19, S19JPRO, S21 = (C.model_id(k) for k in ("S19", "S19jPro", "S21"))


def mixed(n: int = 4, state: RigState = RigState.HASHING) -> FleetState:
    """n slow Braiins S21s (continuous, 30 s) and n fast LuxOS S19j Pros (profiles, 5 s),
    all at the top of their point sets."""
    models = [S21] * n + [S19JPRO] * n
    fw = [Firmware.CONTINUOUS] * n + [Firmware.PROFILES] * n
    top = [C.models[S21].max_w] * n + [C.models[S19JPRO].profiles[-1].watts] * n
    return FleetState.create(models, firmware=fw, state=state, target_w=top,
                             response_s=[30.0] * n + [5.0] * n)  # fmt: skip


def test_without_response_times_the_plan_is_unchanged() -> None:
    f = mixed()
    zero = FleetState.create(f.model, firmware=f.firmware, state=f.state, target_w=f.target_w)
    budget = 0.7 * float(f.target_w.sum())
    a, b = plan(f, budget, config=FREE), plan(zero, budget, config=FREE)
    assert a.total_w <= budget and b.total_w <= budget
    assert b.command[:4].tolist() != [Command.KEEP] * 4  # efficiency alone sheds the S21s too


def test_a_cut_sheds_only_the_fastest_rigs_when_they_can_meet_it() -> None:
    f = mixed()
    now = float(f.target_w.sum())
    budget = now - 0.3 * float(f.target_w[4:].sum())  # the fast rigs alone can meet it
    p = plan(f, budget, config=FREE)
    assert p.total_w <= budget + 1e-6
    assert (p.command[:4] == Command.KEEP).all()  # the slow rigs keep what they run
    assert (p.command[4:] != Command.KEEP).any()
    assert np.allclose(p.power_w[:4], f.target_w[:4]) and p.planned.all()
    assert (p.profile[4:][p.awake[4:]] >= 0).all()  # profiles: within the granularity


def test_a_cut_the_fast_rigs_cannot_meet_alone_uses_the_slow_ones_too() -> None:
    f = mixed()
    budget = 0.3 * float(f.target_w.sum())
    p = plan(f, budget, config=FREE)
    assert p.total_w <= budget + 1e-6
    assert (p.command[:4] != Command.KEEP).any()


def test_a_swap_sheds_now_and_raises_only_once_the_shed_has_landed() -> None:
    # a slow inefficient S19 up, an efficient fast S21 asleep; room for one of them
    f = FleetState.create([S19, S21], firmware=[Firmware.CONTINUOUS, Firmware.PROFILES],
                          state=[RigState.HASHING, RigState.SLEEPING],
                          target_w=[C.models[S19].max_w, np.nan],
                          response_s=[30.0, 5.0])  # fmt: skip
    budget = C.models[S19].max_w + C.models[S21].sleep_w + 10.0
    p = plan(f, budget, config=FREE)
    assert p.command[0] in (Command.SLEEP, Command.SET)  # the shed goes out now ...
    assert p.command[1] == Command.KEEP  # ... the wake waits for it to land
    assert p.total_w <= budget
    # once the shed has landed (the controller counts it then), the wake goes ahead
    landed = FleetState.create([S19, S21], firmware=f.firmware,
                               state=[RigState.SLEEPING, RigState.SLEEPING],
                               response_s=[30.0, 5.0])  # fmt: skip
    q = plan(landed, budget, config=FREE)
    assert q.command[1] == Command.WAKE


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    frac=st.floats(0.1, 1.3),
    seed=st.integers(0, 2**31 - 1),
)
def test_no_instant_above_the_budget_unless_it_was_already(n: int, frac: float,
                                                           seed: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    models = rng.choice([S19, S19JPRO, S21], size=n)
    fw = rng.choice([Firmware.CONTINUOUS, Firmware.PROFILES, Firmware.MODES], size=n)
    awake = rng.random(n) < 0.6
    top = np.array([C.models[m].points(Firmware(f))[-1].watts for m, f in zip(models, fw,
                                                                              strict=True)])
    f = FleetState.create(models, firmware=fw,
                          state=np.where(awake, RigState.HASHING, RigState.SLEEPING),
                          target_w=np.where(awake, top, np.nan),
                          response_s=rng.choice([0.0, 5.0, 30.0], size=n))  # fmt: skip
    sleep = C.sleep_w[models]
    now = np.where(awake, top, sleep)
    budget = frac * float(top.sum())
    p = plan(f, budget, config=FREE)
    if p.infeasible:
        return
    # every rig counted at the higher of now and planned, where its shed takes time
    slow = f.response_s > 0
    worst = np.where(slow, np.maximum(now, p.power_w), p.power_w)
    if now.sum() <= budget:  # not a cut: safe at every instant
        assert worst.sum() <= budget + 1.0
    assert p.total_w <= budget + 1e-6  # and once landed, under the budget
