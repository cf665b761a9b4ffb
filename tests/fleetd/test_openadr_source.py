"""fleetd's own OpenADR VEN as an allotment source (fleetd.allotment.openadr), on
events as openleadr parses them: no figure outside an event, the grid's cut inside it
(never above base_mw), a scheduled event announced as steps, an unknown signal opted out
of, a cancellation dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetd.allotment.base import AllotmentSource
from fleetd.allotment.openadr import OpenAdrSource, VenSettings

T0 = 1_750_000_000.0


def event(event_id: str, signal: str, stype: str, payload: float, start: float,
          duration_s: float, status: str = "far") -> dict[str, Any]:  # fmt: skip
    return {
        "event_descriptor": {"event_id": event_id, "event_status": status},
        "event_signals": [{
            "signal_name": signal, "signal_type": stype,
            "intervals": [{"dtstart": datetime.fromtimestamp(start, UTC),
                           "duration": timedelta(seconds=duration_s),
                           "signal_payload": payload}],
        }],
    }  # fmt: skip


def source() -> OpenAdrSource:
    return OpenAdrSource(2.0, VenSettings("http://127.0.0.1:1/OpenADR2/Simple/2.0b"))


def test_events_cut_the_base_while_in_force() -> None:
    s = source()
    assert isinstance(s, AllotmentSource)
    assert s.current(T0) is None  # no event: the site's other sources decide
    assert s.on_event(event("now", "SIMPLE", "level", 2, T0, 600, "active"), T0) == "optIn"
    r = s.current(T0 + 1)
    assert r is not None and r.mw == pytest.approx(0.8) and r.source == "openadr"
    assert "now" in r.change_id and r.detail == "OpenADR event now"
    # a setpoint above the base does not add; a delta below it cuts further
    s.on_event(event("up", "LOAD_DISPATCH", "setpoint", 5000, T0, 600), T0)
    assert s.current(T0 + 1).mw == pytest.approx(0.8)  # type: ignore[union-attr]
    s.on_event(event("down", "LOAD_DISPATCH", "delta", -1500, T0, 600), T0)
    assert s.current(T0 + 1).mw == pytest.approx(0.5)  # type: ignore[union-attr]
    assert s.current(T0 + 601) is None  # over
    assert s.status(T0 + 1).state == "failing"  # not registered with a VTN here


def test_a_scheduled_event_is_announced_as_steps() -> None:
    s = source()
    s.on_event(event("later", "LOAD_CONTROL", "x-loadControlCapacity", 0.25, T0 + 60, 120), T0)
    assert s.current(T0) is None
    steps = [(c.at, c.mw) for c in s.next_changes(T0, 3600)]
    assert steps == [(T0 + 60, pytest.approx(0.5)), (T0 + 180, pytest.approx(2.0))]
    assert s.next_changes(T0, 30) == []  # beyond the horizon


def test_unknown_signals_are_opted_out_and_cancellations_dropped() -> None:
    s = source()
    assert s.on_event(event("price", "ELECTRICITY_PRICE", "price", 0.1, T0, 60), T0) == "optOut"
    assert s.current(T0 + 1) is None
    bad = event("bad", "SIMPLE", "level", 7, T0, 60)
    assert s.on_event(bad, T0) == "optOut"
    s.on_event(event("e", "SIMPLE", "level", 3, T0, 600), T0)
    assert s.current(T0 + 1).mw == 0.0  # type: ignore[union-attr]
    s.on_event(event("e", "SIMPLE", "level", 3, T0, 600, "cancelled"), T0 + 2)
    assert s.current(T0 + 3) is None
    assert s.opted == {"price": "optOut", "bad": "optOut", "e": "optIn"}
