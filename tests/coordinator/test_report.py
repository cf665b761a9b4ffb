"""The regulator's report across sites (coordinator.report): sites' rows, our commands,
the totals, and a site whose report could not be had."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from coordinator.report import TOTAL, ReportError, build, to_csv, to_json

T0 = 1_750_000_800.0  # 300 s into a 15-minute interval


def fleetd_report(start: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from datetime import UTC, datetime

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    return {
        "intervals": [{"start": iso(start + 900 * k), **r} for k, r in enumerate(rows)],
        "source": {"power": "meter"},
    }


def test_sites_and_totals_per_interval() -> None:
    first = T0 - T0 % 900
    a = fleetd_report(
        first,
        [
            {
                "allotment_mw": 2.0,
                "energy_kwh": 400.0,
                "above_s": 3.0,
                "above_kwh": 0.2,
                "commands": 12,
                "covered_s": 900.0,
                "source": "meter",
            },
            {
                "allotment_mw": 1.0,
                "energy_kwh": 240.0,
                "above_s": 0.0,
                "above_kwh": 0.0,
                "commands": 4,
                "covered_s": 900.0,
                "source": "meter",
            },
        ],
    )
    b = fleetd_report(
        first,
        [
            {
                "allotment_mw": 3.0,
                "energy_kwh": 700.0,
                "above_s": 1.0,
                "above_kwh": 0.1,
                "commands": 2,
                "covered_s": 900.0,
                "source": "meter",
            },
        ],
    )
    commands = [
        {"site": "a", "ts": T0},
        {"site": "a", "ts": T0 + 900},
        {"site": "b", "ts": T0},
        {"site": "zz", "ts": T0},
        {"site": "a", "ts": "soon"},
    ]
    rep = build(T0, T0 + 1800, {"a": a, "b": b, "c": None}, commands, errors={"c": "HTTP 503"})
    assert len(rep.starts) == 3  # [first, first+2700) covers the span
    total = rep.rows[TOTAL][0]
    assert total.allotment_mw == pytest.approx(5.0)
    assert total.energy_kwh == pytest.approx(1100.0)
    assert total.above_s == pytest.approx(4.0) and total.above_kwh == pytest.approx(0.3)
    assert (total.site_commands, total.control_commands) == (14, 2)
    assert total.covered_s == 0.0  # site c has no report: the total is not fully covered
    assert rep.rows["a"][1].control_commands == 1 and rep.rows["b"][1].energy_kwh == 0.0
    doc = json.loads(to_json(rep))
    assert doc["sites"]["c"]["error"] == "HTTP 503"
    assert doc["totals"]["energy_kwh"] == pytest.approx(1340.0)
    lines = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert [x["site"] for x in lines[:4]] == ["a", "b", "c", TOTAL]
    assert lines[2]["allotment_mw"] == ""


def test_bad_inputs() -> None:
    with pytest.raises(ReportError, match="after"):
        build(T0, T0, {}, [])
    with pytest.raises(ReportError, match="intervals"):
        build(T0, T0 + 900, {"a": {"nope": 1}}, [])
    bad = fleetd_report(T0 - T0 % 900, [{"energy_kwh": "lots"}])
    with pytest.raises(ReportError, match="energy_kwh"):
        build(T0, T0 + 900, {"a": bad}, [])


def test_energy_against_the_work_the_licensed_pool_credited() -> None:
    first = T0 - T0 % 900
    row = {"allotment_mw": 1.0, "energy_kwh": 100.0, "commands": 0, "covered_s": 900.0}
    a = fleetd_report(first, [row, row])
    b = fleetd_report(first, [row, row])
    credited = [  # two records of one interval add up (the coordinator stopped in between)
        {"site": "a", "start": first, "credited_th": 6e6},
        {"site": "a", "start": first, "credited_th": 6e6},
        {"site": "a", "start": first + 900, "credited_th": 12e6},
        {"site": "a", "start": first, "credited_th": float("nan")},
        {"site": "zz", "start": first, "credited_th": 1.0},
    ]
    rep = build(T0, T0 + 1200, {"a": a, "b": b}, [], credited=credited)
    ra, rb, total = rep.rows["a"][0], rep.rows["b"][0], rep.rows[TOTAL][0]
    assert ra.credited_th == pytest.approx(12e6)
    assert ra.jth_pool == pytest.approx(100.0 * 3.6e6 / 12e6)  # 30 J/TH
    assert rb.credited_th is None and rb.jth_pool is None  # b is not checked
    # the total's ratio counts only the energy of the sites the pool checks
    assert total.credited_th == pytest.approx(12e6) and total.jth_pool == pytest.approx(30.0)
    doc = json.loads(to_json(rep))
    assert doc["sites"]["a"]["totals"]["jth_pool"] == pytest.approx(30.0)
    assert doc["sites"]["b"]["totals"]["credited_th"] is None
    lines = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert lines[0]["credited_th"] == "12000000.0" and lines[0]["jth_pool"] == "30.0"
