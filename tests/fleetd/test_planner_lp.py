"""The planner against an independent LP optimum (scipy linprog) on random mixed fleets."""

from __future__ import annotations

import numpy as np
import pytest

from fleetd.models import DEFAULT_CATALOG, Firmware
from fleetd.planner import PlannerConfig, plan

from .planner_support import lp_optimum, random_fleet

EXACT = PlannerConfig(hysteresis=0.0)
SHARES = (0.15, 0.35, 0.55, 0.75, 0.95)


def _budgets(fleet, share_list=SHARES):
    plate = DEFAULT_CATALOG.nameplate_w[fleet.model].sum()
    return [s * plate for s in share_list]


@pytest.mark.parametrize("seed", range(4))
def test_continuous_fleets_within_2pct_of_lp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, 250, DEFAULT_CATALOG, firmware=(Firmware.CONTINUOUS,))
    for budget in _budgets(fleet):
        p = plan(fleet, budget, config=EXACT)
        opt, biggest = lp_optimum(fleet, budget, DEFAULT_CATALOG, EXACT)
        assert p.total_w <= budget + 1e-6
        assert p.total_ths <= opt * (1 + 1e-9) + 1e-6, "the LP relaxation is an upper bound"
        assert p.total_ths >= 0.98 * opt, (budget, p.total_ths / opt)
        # greedy on marginal TH/W loses at most the one segment the budget ends in
        assert opt - p.total_ths <= biggest + 1e-6


@pytest.mark.parametrize("firmware", [Firmware.PROFILES, Firmware.MODES])
@pytest.mark.parametrize("seed", range(3))
def test_discrete_fleets_bound(firmware: Firmware, seed: int) -> None:
    """All-or-nothing steps: the gap to the LP is at most one segment's hashrate (the
    knapsack rounding bound), which for a few hundred rigs stays under 2 %."""
    rng = np.random.default_rng(100 + seed)
    fleet = random_fleet(rng, 250, DEFAULT_CATALOG, firmware=(firmware,))
    for budget in _budgets(fleet):
        p = plan(fleet, budget, config=EXACT)
        opt, biggest = lp_optimum(fleet, budget, DEFAULT_CATALOG, EXACT)
        assert p.total_w <= budget + 1e-6
        assert p.total_ths <= opt * (1 + 1e-9) + 1e-6
        assert opt - p.total_ths <= biggest + 1e-6, (budget, opt, p.total_ths, biggest)
        assert p.total_ths >= 0.98 * opt, (budget, p.total_ths / opt)


@pytest.mark.parametrize("seed", range(3))
def test_mixed_fleet_with_holds_caps_and_unreachable_rigs(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    fleet = random_fleet(
        rng, 300, DEFAULT_CATALOG, held_share=0.3, capped_share=0.2, unplanned_share=0.1
    )
    # budgets the held rigs fit in, so the LP with the holds as fixed bounds is feasible
    for budget in _budgets(fleet, (0.6, 0.8, 1.0)):
        p = plan(fleet, budget, config=EXACT)
        assert not p.hold_broken.any()
        opt, biggest = lp_optimum(fleet, budget, DEFAULT_CATALOG, EXACT)
        assert p.total_w <= budget + 1e-6
        assert p.total_ths <= opt * (1 + 1e-9) + 1e-6
        assert opt - p.total_ths <= biggest + 1e-6
        assert p.total_ths >= 0.98 * opt, (budget, p.total_ths / opt)


def test_default_hysteresis_costs_under_2pct() -> None:
    rng = np.random.default_rng(7)
    fleet = random_fleet(rng, 300, DEFAULT_CATALOG, awake_share=0.6)
    for budget in _budgets(fleet):
        p = plan(fleet, budget)
        opt, _ = lp_optimum(fleet, budget, DEFAULT_CATALOG, EXACT)
        assert opt * 0.98 <= p.total_ths <= opt * (1 + 1e-9) + 1e-6
