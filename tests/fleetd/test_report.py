"""The compliance report: samples and audit records shared out per 15-minute interval,
as CSV and JSON, and through `surplus fleetd report`."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from fleetd import cli
from fleetd.audit import AuditLog, Signal
from fleetd.control.samples import SampleError, SampleLog, read_samples, samples_path_for
from fleetd.drivers import ApplyResult, Target
from fleetd.report import ReportError, build_report, parse_when, to_csv, to_json

T0 = 1_750_000_500.0
BOUNDARY = (T0 // 900 + 1) * 900


def write_fixture(tmp: Path) -> Path:
    audit_path = tmp / "audit.jsonl"
    samples = SampleLog(samples_path_for(audit_path))
    # 1 MW drawn for 200 s straddling the boundary; a cap of 0.9 MW over the last 50 s
    samples.write({"site": "n", "t0": BOUNDARY - 100, "t1": BOUNDARY + 100,
                   "energy_j": 1e6 * 200, "above_s": 50.0, "above_j": 1e5 * 50,
                   "allotment_w": 1.05e6, "allotment_min_w": 0.9e6})  # fmt: skip
    samples.write({"site": "other", "t0": BOUNDARY - 100, "t1": BOUNDARY + 100,
                   "energy_j": 5e8, "allotment_w": 1e6})  # fmt: skip
    samples.close()
    clock = iter([BOUNDARY - 50, BOUNDARY - 40, BOUNDARY + 10]).__next__
    sig = Signal("grid:0.9", "cut", 0.9, "grid")
    with AuditLog(audit_path, clock=clock) as log:
        log.command("n", ApplyResult("a", Target.sleep(), True, 0.0), sig)
        log.command("n", ApplyResult("b", Target.use_profile("300MHz"), False, 0.0,
                                     error="refused"), sig)  # fmt: skip
        log.command("n", ApplyResult("c", Target.sleep(), True, 0.0), sig)
    return audit_path


def test_samples_and_commands_are_shared_out_per_interval(tmp_path: Path) -> None:
    audit = write_fixture(tmp_path)
    rows = build_report(audit, site="n", since=BOUNDARY - 900, until=BOUNDARY + 900)
    assert len(rows) == 2
    a, b = rows
    assert a.energy_j == pytest.approx(1e8) and b.energy_j == pytest.approx(1e8)
    assert a.covered_s == pytest.approx(100) and b.covered_s == pytest.approx(100)
    assert a.above_s + b.above_s == pytest.approx(50)
    assert sum(a.commands.values()) == 2 and a.failed == 1 and a.commands["sleep"] == 1
    assert sum(b.commands.values()) == 1
    d = b.as_dict()
    assert d["energy_kwh"] == pytest.approx(1e8 / 3.6e6, abs=1e-3)
    assert d["allotment_mw"] == pytest.approx(1.05)
    assert d["allotment_min_mw"] == pytest.approx(0.9)


def test_csv_and_json_shapes(tmp_path: Path) -> None:
    audit = write_fixture(tmp_path)
    rows = build_report(audit, site="n", since=BOUNDARY - 900, until=BOUNDARY + 900)
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [r["commands"] for r in table] == ["2", "1"]
    assert table[0]["start"].endswith("Z")
    doc = json.loads(to_json(rows, site="n", since=BOUNDARY - 900, until=BOUNDARY + 900))
    assert doc["totals"]["commands"] == 3
    assert doc["totals"]["above_kwh"] == pytest.approx(5e6 / 3.6e6, abs=1e-5)
    assert len(doc["intervals"]) == 2


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="--from"):
        parse_when("yesterday", "--from")
    with pytest.raises(ReportError, match="UTC offset"):
        parse_when("2025-06-01T00:00:00", "--to")
    assert parse_when("2025-06-01T00:00:00Z", "--to") == 1748736000.0
    with pytest.raises(ReportError, match="after"):
        build_report(tmp_path / "none.jsonl", site="n", since=10, until=5)


def test_a_torn_last_sample_is_skipped_but_corruption_is_named(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text('{"site":"n","t0":0,"t1":1,"energy_j":1,"allotment_w":1}\n{"site":"n","t0')
    assert len(list(read_samples(p))) == 1
    p.write_text('garbage}\n{"site":"n","t0":0,"t1":1,"energy_j":1,"allotment_w":1}\n')
    with pytest.raises(SampleError, match="line 1"):
        list(read_samples(p))


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit = write_fixture(tmp_path)
    parser = argparse.ArgumentParser()
    cli.register(parser)
    args = parser.parse_args(["report", "--site", "n", "--from", str(BOUNDARY - 900),
                              "--to", str(BOUNDARY + 900), "--json", "--audit", str(audit)])
    assert cli.run(args) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["commands"] == 3
    args = parser.parse_args(["report", "--site", "n", "--from", "soon", "--to", "later",
                              "--audit", str(audit)])
    assert cli.run(args) == 2
    assert "--from" in capsys.readouterr().err


def test_the_report_keeps_the_stale_floor_apart_and_states_its_source(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    samples = SampleLog(samples_path_for(audit_path))
    # 100 s on meter readings every 2 s: 4 s above the allotment, 30 s above the floor
    samples.write({"site": "n", "t0": BOUNDARY - 100, "t1": BOUNDARY, "energy_j": 5e7,
                   "above_s": 4.0, "above_j": 4e5, "above_floor_s": 30.0, "above_floor_j": 9e6,
                   "allotment_w": 6e5, "allotment_min_w": 6e5, "meter_s": 100.0,
                   "estimate_s": 0.0, "readings": 50, "max_gap_s": 2.5})  # fmt: skip
    samples.close()
    rows = build_report(audit_path, site="n", since=BOUNDARY - 900, until=BOUNDARY)
    doc = json.loads(to_json(rows, site="n", since=BOUNDARY - 900, until=BOUNDARY))
    assert doc["totals"]["above_s"] == 4.0 and doc["totals"]["above_floor_s"] == 30.0
    assert doc["totals"]["above_floor_kwh"] == pytest.approx(2.5)
    src = doc["source"]
    assert (src["power"], src["sampling_s"], src["max_gap_s"], src["readings"]) == (
        "meter", 2.0, 2.5, 50)
    assert "site meter readings" in src["description"] and "every 2.00 s" in src["description"]
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert (table[0]["source"], table[0]["sampling_s"], table[0]["above_floor_s"]) == (
        "meter", "2.0", "30.0")
