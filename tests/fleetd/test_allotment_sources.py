"""Constant, override, the feed core (staleness -> floor) and the min-of rule."""

from __future__ import annotations

import pytest

from fleetd.allotment import (
    AllotmentError,
    AllotmentReading,
    ConstantSource,
    FeedFields,
    FeedState,
    OverrideSource,
    ScheduleSource,
    SiteAllotment,
    effective,
    parse_message,
)
from fleetd.budget import AllotmentSchedule


def test_constant_source() -> None:
    c = ConstantSource(3.5, name="licence")
    r = c.current(1e9)
    assert (r.mw, r.source, r.stale) == (3.5, "licence", False)
    assert c.next_changes(0, 1e9) == []
    with pytest.raises(AllotmentError, match="'licence': mw: expected finite megawatts"):
        ConstantSource(-1, name="licence")


def test_override_sets_clears_and_expires() -> None:
    o = OverrideSource()
    assert o.current(100) is None
    o.set(2.0, now=100, ttl_s=60, reason="transformer work", by="alice")
    r = o.current(159.9)
    assert r is not None and r.mw == 2.0 and "alice" in r.detail and "transformer" in r.detail
    assert o.current(160.0) is None  # expired at exactly set + ttl
    assert o.active is None
    o.set(1.0, now=200, until=260)
    first = o.current(200)
    assert first is not None
    cleared = o.clear()
    assert cleared is not None and cleared.mw == 1.0 and o.current(201) is None
    second = o.set(1.0, now=300, ttl_s=10)
    assert second.change_id != first.change_id  # each override is its own signal
    with pytest.raises(AllotmentError, match="exactly one of ttl_s or until"):
        o.set(1.0, now=0)
    with pytest.raises(AllotmentError, match="in the future"):
        o.set(1.0, now=100, until=50)
    with pytest.raises(AllotmentError, match="at most"):
        OverrideSource(max_duration_s=3600).set(1.0, now=0, ttl_s=7200)


def test_min_rule_names_the_binding_source() -> None:
    a = AllotmentReading(5.0, 0, "licence", "licence:5")
    b = AllotmentReading(3.2, 10, "tso", "TSO-17")
    c = AllotmentReading(4.0, 5, "hydro", "hydro@x")
    e = effective([a, None, b, c])
    assert (e.mw, e.bound_by, e.change_id) == (3.2, "tso", "TSO-17")
    assert e.reason.startswith("tso 3.2 MW") and "licence 5" in e.reason
    assert e.watts == pytest.approx(3.2e6)
    assert len(e.readings) == 3
    tie = effective([AllotmentReading(3.0, 0, "x", "x"), AllotmentReading(3.0, 0, "y", "y")])
    assert tie.bound_by == "x"
    none = effective([None, None])
    assert none.mw == 0.0 and none.bound_by == "" and "no allotment source" in none.reason


def test_parse_message_fields_units_and_errors() -> None:
    f = FeedFields(mw="a.kw", as_of="a.t", change_id="a.id", next_changes="a.next", scale=1e-3)
    msg = {"a": {"kw": 2500, "t": "2025-06-21T10:00:00Z", "id": 42,
                 "next": [{"at": 1750503600, "mw": 2000}]}}  # fmt: skip
    v = parse_message(msg, f, received_at=1750500000.0, source="tso")
    assert v.mw == 2.5 and v.change_id == "42"
    assert v.as_of == 1750500000.0  # 10:00Z is ahead of the receipt time: clamped
    assert v.changes == ((1750503600.0, 2.0),)
    v2 = parse_message({"mw": 1.0}, FeedFields(), received_at=77.0, source="tso")
    assert v2.as_of == 77.0 and v2.change_id == "tso@77.000"
    with pytest.raises(AllotmentError, match="tso: message has no 'mw'"):
        parse_message({"MW": 1}, FeedFields(), 0, "tso")
    with pytest.raises(AllotmentError, match="tso: mw: expected a number"):
        parse_message({"mw": "high"}, FeedFields(), 0, "tso")
    with pytest.raises(AllotmentError, match="no UTC offset"):
        parse_message({"mw": 1, "as_of": "2025-06-21T10:00:00"}, FeedFields(), 0, "tso")
    with pytest.raises(AllotmentError, match="expected a JSON object"):
        parse_message([1, 2], FeedFields(), 0, "tso")


def test_feed_state_goes_stale_to_the_floor_and_recovers() -> None:
    st = FeedState("tso", "http_json", stale_after_s=30, floor_mw=1.0)
    r = st.current(0)
    assert r.stale and r.mw == 1.0  # nothing heard yet: floor
    st.accept(parse_message({"mw": 4.0, "as_of": 100}, FeedFields(), 100, "tso"), 100)
    assert not st.current(130).stale and st.current(130).mw == 4.0
    late = st.current(130.5)
    assert late.stale and late.mw == 1.0 and "stale for 30 s" in late.detail
    assert st.status(131).age_s == pytest.approx(31) and st.status(131).stale
    # an out-of-order older message does not roll back the figure
    st.accept(parse_message({"mw": 9.0, "as_of": 50}, FeedFields(), 140, "tso"), 140)
    assert st.value is not None and st.value.mw == 4.0
    st.accept(parse_message({"mw": 0.4, "as_of": 200}, FeedFields(), 200, "tso"), 200)
    # the last figure was below the floor: silence keeps that curtailment in force
    assert st.current(300).mw == 0.4 and st.current(300).stale


def test_feed_announced_step_applies_when_due() -> None:
    st = FeedState("tso", "zmq", stale_after_s=600, floor_mw=0.5)
    msg = {"mw": 5.0, "as_of": 1000, "id": "A", "next": [{"at": 1300, "mw": 3.0}]}
    st.accept(parse_message(msg, FeedFields(), 1000, "tso"), 1000)
    assert [(c.at, c.mw) for c in st.next_changes(1000, 600)] == [(1300.0, 3.0)]
    assert st.current(1299).mw == 5.0
    now = st.current(1300)
    assert now.mw == 3.0 and now.change_id == "A+1300"
    assert st.next_changes(1300, 600) == []


def test_site_allotment_folds_sources_into_a_budget_schedule() -> None:
    licence = ConstantSource(5.0, name="licence")
    day = ScheduleSource([0, 1000, 2000, 3000], [6.0, 4.0, 5.5, 3.0], name="hydro")
    override = OverrideSource()
    site = SiteAllotment([licence, day, override])
    assert site.override is override and site.feeds() == []
    e = site.effective(500)
    assert (e.mw, e.bound_by) == (5.0, "licence")
    override.set(4.5, now=500, ttl_s=60)
    assert site.effective(510).bound_by == "override"
    assert site.effective(560).bound_by == "licence"
    assert site.timetable(500, 2600) == [(500, 5.0), (1000, 4.0), (2000, 5.0), (3000, 3.0)]
    assert site.timetable(500, 1000) == [(500, 5.0), (1000, 4.0)]
    sched = site.schedule(500, 2600)
    assert isinstance(sched, AllotmentSchedule)
    assert sched.at(1500) == pytest.approx(4.0e6)
    # pre-shedding: 60 s ahead of the 1000 s cut the plan is already at the new cap
    assert sched.effective_w(950, lead_s=60) == pytest.approx(4.0e6)
    assert sched.effective_w(900, lead_s=60) == pytest.approx(5.0e6)
    with pytest.raises(AllotmentError, match="distinct names"):
        SiteAllotment([ConstantSource(1, name="a"), ConstantSource(2, name="a")])
