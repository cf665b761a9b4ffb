"""Rigs to shed before any other (fleetd.control.shed_first) with the real planner: the
efficient rigs the coordinator flagged go first when the budget is short, and run when it
is not."""

from __future__ import annotations

import numpy as np

from fleetd.control.shed_first import listed_mask, shed_first
from fleetd.models import DEFAULT_CATALOG, Firmware
from fleetd.planner import FleetState, Plan, PlannerConfig, RigState, plan

C = DEFAULT_CATALOG
S19, S21XP = C.model_id("S19"), C.model_id("S21 XP")
NO_HOLDS = PlannerConfig(min_awake_s=0, min_asleep_s=0, hysteresis=0.0)
MODELS = [S19] * 4 + [S21XP] * 4  # the planner keeps the S21 XPs (better J/TH) first


def fleet() -> FleetState:
    return FleetState.create(MODELS, firmware=Firmware.MODES, state=RigState.HASHING,
                             target_w=[C.models[m].nameplate_w for m in MODELS])  # fmt: skip


def run(budget_w: float, listed: np.ndarray) -> np.ndarray:
    f = fleet()

    def replan(x: FleetState) -> Plan:
        return plan(x, budget_w, config=NO_HOLDS)

    return shed_first(replan(f), f, listed, replan, C).awake


def test_flagged_rigs_go_first_when_the_budget_is_short() -> None:
    listed = np.zeros(8, dtype=bool)
    listed[[4, 5]] = True  # two S21 XPs flagged
    s21xp_w = C.models[S21XP].nameplate_w
    budget = 4 * s21xp_w + 50.0  # room for four S21 XPs' worth
    plain = run(budget, np.zeros(8, dtype=bool))
    assert plain[4:].all()  # unflagged: the planner keeps every S21 XP
    awake = run(budget, listed)
    assert not awake[4] and not awake[5]  # flagged: asleep ...
    assert awake[6] and awake[7] and awake[:4].any()  # ... the budget goes to the others


def test_flagged_rigs_run_when_every_rig_can() -> None:
    listed = np.zeros(8, dtype=bool)
    listed[[4, 5]] = True
    full = sum(C.models[m].nameplate_w for m in MODELS) * 1.2
    assert run(full, listed).all()


def test_underclocked_others_count_as_held_back() -> None:
    # continuous firmware: a short budget underclocks every rig rather than sleeping some
    models = [S21XP] * 4
    f = FleetState.create(models, firmware=Firmware.CONTINUOUS, state=RigState.HASHING,
                          target_w=C.models[S21XP].nameplate_w)  # fmt: skip
    budget = 3 * C.models[S21XP].nameplate_w

    def replan(x: FleetState) -> Plan:
        return plan(x, budget, config=NO_HOLDS)

    listed = np.array([True, False, False, False])
    assert replan(f).awake.all()
    p = shed_first(replan(f), f, listed, replan, C)
    assert not p.awake[0] and p.awake[1:].all()


def test_listed_by_name_or_address() -> None:
    mask = listed_mask(["a-1", "a-2", "a-3"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
                       frozenset({"a-1", "10.0.0.3", "elsewhere"}))  # fmt: skip
    assert mask.tolist() == [True, False, True]
