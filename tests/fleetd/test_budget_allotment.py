"""Site budget arithmetic and the schedule look-ahead."""

from __future__ import annotations

import math

import pytest

from fleetd.budget import AllotmentSchedule, BudgetError, SiteLoads, wake_horizon_s


def test_miner_budget_subtracts_margin_firm_aux_and_divides_by_pue() -> None:
    loads = SiteLoads(firm_w=1e6, pue=1.2, aux_w=0.2e6)
    b = loads.miner_budget_w(10e6, margin_frac=0.02, margin_w=0.1e6)
    assert b == pytest.approx((10e6 * 0.98 - 0.1e6 - 1e6 - 0.2e6) / 1.2)
    # and the site meter would read exactly the allotment less the margins
    assert loads.draw_w(b) == pytest.approx(10e6 * 0.98 - 0.1e6)
    assert SiteLoads(firm_w=2e6).miner_budget_w(1e6) == 0.0, "firm loads are not throttled"
    assert SiteLoads(meter_factor=1.1).miner_budget_w(1e6) == pytest.approx(1e6 / 1.1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"pue": 0.9}, "pue"), ({"firm_w": -1}, "firm_w"), ({"margin_frac": 1.0}, "margin_frac"),
     ({"meter_factor": 0}, "meter_factor"), ({"aux_w": math.nan}, "aux_w")],
)  # fmt: skip
def test_bad_budget_input_is_named(kwargs: dict, name: str) -> None:
    margins = {k: kwargs.pop(k) for k in ("margin_frac", "margin_w") if k in kwargs}
    with pytest.raises(BudgetError, match=name):
        SiteLoads(**kwargs).miner_budget_w(1e6, **margins)


def _day() -> AllotmentSchedule:
    return AllotmentSchedule.from_mw([(0, 100), (3600, 70), (7200, 120), (10800, 90)])


def test_step_function_and_window_minimum() -> None:
    s = _day()
    assert s.at(0) == 100e6 and s.at(3599.9) == 100e6 and s.at(3600) == 70e6
    assert s.at(1e9) == 90e6
    assert s.min_over(100, 200) == 100e6
    assert s.min_over(3000, 8000) == 70e6
    with pytest.raises(BudgetError, match="schedule starts"):
        s.at(-1)


def test_scheduled_drop_is_pre_shed_by_the_lead_time() -> None:
    s = _day()
    lead = 60.0
    assert s.effective_w(3600 - lead - 1, lead) == 100e6
    assert s.effective_w(3600 - lead, lead) == 70e6, "the plan already fits the coming cap"
    assert s.effective_w(3600 + 10, lead) == 70e6
    # a rise is not taken early
    assert s.effective_w(7200 - 10, lead) == 70e6
    assert s.effective_w(7200, lead) == 120e6


def test_ramp_down_limit_starts_the_shed_earlier_along_a_line() -> None:
    s = _day()
    lead, rate = 60.0, 1e6 / 60  # 1 MW/min
    # 30 MW at 1 MW/min: start 30 minutes (plus the lead) before the cut
    start = 3600 - lead - 30 * 60
    assert s.effective_w(start - 60, lead, rate) == 100e6
    assert s.effective_w(start + 600, lead, rate) == pytest.approx(90e6)
    assert s.effective_w(3600 - lead, lead, rate) == pytest.approx(70e6)
    # sampled every 10 s, the budget never drops faster than the ramp
    t, prev = start - 100, None
    while t < 3700:
        b = s.effective_w(t, lead, rate)
        if prev is not None:
            assert prev - b <= rate * 10 + 1e-3
        prev, t = b, t + 10


def test_wake_budget_looks_over_boot_and_hold() -> None:
    s = _day()
    horizon = wake_horizon_s(150, 600)
    assert horizon == 750
    # a wake at t commits the rig until t + lead + boot + hold
    assert s.wake_w(3600 - 60 - 750 - 1, 60, horizon) == 100e6
    assert s.wake_w(3600 - 60 - 750, 60, horizon) == 70e6
    assert s.effective_w(3600 - 60 - 750, 60) == 100e6


def test_bad_schedules_are_named() -> None:
    with pytest.raises(BudgetError, match="strictly increasing"):
        AllotmentSchedule([0.0, 0.0], [1.0, 2.0])
    with pytest.raises(BudgetError, match="allotment_w"):
        AllotmentSchedule([0.0], [-1.0])
    with pytest.raises(BudgetError, match="lead_s"):
        _day().effective_w(0, -5)
    assert AllotmentSchedule.constant(5e6).effective_w(123, 60) == 5e6
