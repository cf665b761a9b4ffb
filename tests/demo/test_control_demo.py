"""`surplus demo --sites 3` as an operator runs it: three sites under one coordinator,
an openleadr VTN that sends an immediate and a scheduled event, and the summary with the
coordinator's figures on its last line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


def test_three_sites_under_one_coordinator(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "surplus.cli", "demo", "--sites", "3", "--duration", "45",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=280, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    m = re.fullmatch(
        r"demo-control: sites=3 seconds=45 portfolio_mw=(\S+) above_site_s=(\S+) "
        r"above_kwh=(\S+) portfolio_above_s=(\S+) events_opted_in=(\d+) commands=(\d+) "
        r"report_kwh=(\S+) report_above_s=(\S+) report_above_kwh=(\S+)",
        last,
    )
    assert m, last
    assert int(m.group(5)) == 2  # the immediate and the scheduled event, opted into
    assert int(m.group(6)) >= 6  # the start, then a change per site at least per event
    assert "the VTN sends SIMPLE event 'now'" in run.stdout
    assert "the VTN sends LOAD_DISPATCH event 'later'" in run.stdout
    assert (tmp_path / "control" / "control-audit.jsonl").exists()
    # the coordinator's figures: its report over the run, per site and in total
    assert float(m.group(7)) > 0
    summary = json.loads((tmp_path / "control" / "summary.json").read_text())
    report = summary["coordinator"]["report_sites"]
    assert set(report) == {"site1", "site2", "site3"}
    assert all(r["energy_kwh"] > 0 for r in report.values())
    assert summary["coordinator"]["report_totals"]["energy_kwh"] == pytest.approx(
        float(m.group(7)), abs=1e-5)
    assert sum(1 for line in run.stdout.splitlines() if line.startswith("demo: coordinator: ")) == 4
    assert re.search(r"demo: the operator's console  http://127\.0\.0\.1:\d+/", run.stdout)


def test_sites_out_of_range_is_a_usage_error() -> None:
    run = subprocess.run([sys.executable, "-m", "surplus.cli", "demo", "--sites", "9"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2 and "expected 2 to 7" in run.stderr
