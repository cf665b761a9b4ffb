"""The portfolio split (coordinator.split): each policy, the bounds, and its invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.split import SiteInput, SiteLimits, SiteReport, bounds, split


def site(name: str, hi: float, lo: float = 0.0, **kw: float) -> SiteInput:
    return SiteInput(name, lo, hi, weight=kw.pop("weight", hi), **kw)  # type: ignore[arg-type]


def test_pro_rata_to_licence() -> None:
    r = split(30.0, [site("a", 10), site("b", 20), site("c", 30)], "pro_rata")
    assert r.allotments == pytest.approx({"a": 5, "b": 10, "c": 15})
    assert r.total_mw == pytest.approx(30.0) and r.shortfall_mw == 0


def test_pro_rata_gives_what_a_bound_site_cannot_take_to_the_others() -> None:
    # a ramps slowly: at most 2 MW now; its share goes to b and c, still pro rata
    r = split(30.0, [site("a", 2, weight=10), site("b", 20), site("c", 30)], "pro_rata")
    assert r.allotments["a"] == pytest.approx(2)
    assert r.allotments["b"] / r.allotments["c"] == pytest.approx(20 / 30)
    assert r.total_mw == pytest.approx(30.0)


def test_merit_order_fills_the_best_jth_first() -> None:
    sites = [site("s19", 10, jth=34.0), site("s21", 10, jth=17.5), site("xp", 10, jth=13.5)]
    r = split(15.0, sites, "merit")
    assert r.allotments == pytest.approx({"xp": 10, "s21": 5, "s19": 0})


def test_merit_order_puts_unknown_efficiency_last() -> None:
    r = split(12.0, [site("x", 10), site("y", 10, jth=30.0)], "merit")
    assert r.allotments == pytest.approx({"y": 10, "x": 2})


def test_fixed_priorities_then_pro_rata_within_a_class() -> None:
    sites = [site("a", 10, priority=2), site("b", 4, priority=1), site("c", 12, priority=1)]
    r = split(20.0, sites, "priority")
    assert r.allotments == pytest.approx({"b": 4, "c": 12, "a": 4})
    r = split(8.0, sites, "priority")
    assert r.allotments == pytest.approx({"b": 2, "c": 6, "a": 0})


def test_a_site_that_cannot_shed_in_time_keeps_its_floor_and_the_others_take_the_cut() -> None:
    r = split(10.0, [site("slow", 10, lo=8), site("fast", 10)], "pro_rata")
    assert r.allotments == pytest.approx({"slow": 8, "fast": 2})


def test_shortfall_when_no_site_can_get_under_in_time() -> None:
    r = split(5.0, [site("a", 10, lo=4), site("b", 10, lo=3)], "merit")
    assert r.allotments == {"a": 4, "b": 3} and r.shortfall_mw == pytest.approx(2)


def test_unallocated_when_every_site_is_full() -> None:
    r = split(50.0, [site("a", 10), site("b", 20)], "pro_rata")
    assert r.allotments == {"a": 10, "b": 20} and r.unallocated_mw == pytest.approx(20)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        split(1.0, [], "cheapest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="portfolio"):
        split(math.nan, [], "merit")
    with pytest.raises(ValueError, match="distinct"):
        split(1.0, [site("a", 1), site("a", 1)], "merit")


LIM = SiteLimits(licence_mw=10.0, shed_s=30.0)


def test_bounds_from_a_report() -> None:
    # draws 8 MW, 6 of it sheddable, within a 60 s cut: can reach 2 MW
    assert bounds(LIM, SiteReport(8.0, 6.0), 8.0, 5.0, 60.0) == pytest.approx((2.0, 10.0))
    # a cut within 15 s reaches half of what it can shed in 30 s
    assert bounds(LIM, SiteReport(8.0, 6.0), 8.0, 5.0, 15.0) == pytest.approx((5.0, 10.0))


def test_bounds_with_ramp_limits_and_overrides() -> None:
    lim = SiteLimits(10.0, 30.0, ramp_up_mw_per_min=1.2, ramp_down_mw_per_min=3.0)
    lo, hi = bounds(lim, SiteReport(8.0, 8.0), 4.0, 30.0, 60.0)
    # ramps up 0.6 MW in 30 s from 4 MW (4.6), but sheds only 3 MW of its 8 in a minute (5)
    assert (lo, hi) == pytest.approx((5.0, 5.0))
    assert bounds(lim, SiteReport(8.0, 8.0), 4.0, 30.0, 60.0, pinned_mw=2.0) == (2.0, 2.0)
    assert bounds(lim, None, None, 0.0, 60.0, pinned_mw=20.0) == (10.0, 10.0)


def test_bounds_without_a_report_assume_the_last_allotment_shed_at_the_set_speed() -> None:
    assert bounds(SiteLimits(10.0, 120.0), None, 6.0, 5.0, 60.0) == pytest.approx((3.0, 10.0))


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[float, list[SiteInput]]:
    n = draw(st.integers(1, 12))
    sites = []
    for k in range(n):
        hi = draw(st.floats(0, 100))
        lo = draw(st.floats(0, 1)) * hi
        sites.append(
            SiteInput(
                f"s{k}",
                lo,
                hi,
                weight=draw(st.floats(0, 100)),
                priority=draw(st.integers(1, 3)),
                jth=draw(st.one_of(st.none(), st.floats(10, 40))),
            )
        )
    return draw(st.floats(0, 1000)), sites


@settings(max_examples=300, deadline=None)
@given(portfolios(), st.sampled_from(["pro_rata", "merit", "priority"]))
def test_every_split_stays_in_bounds_and_under_the_portfolio(
    case: tuple[float, list[SiteInput]], policy: str
) -> None:
    p, sites = case
    r = split(p, sites, policy)  # type: ignore[arg-type]
    for s in sites:
        assert s.lo_mw - 1e-9 <= r.allotments[s.name] <= s.hi_mw + 1e-9
    if r.shortfall_mw > 0:
        assert r.allotments == {s.name: s.lo_mw for s in sites}
    else:
        assert r.total_mw <= p + 1e-6
        assert r.total_mw + r.unallocated_mw == pytest.approx(p, abs=1e-6)
