"""The console's pure parts: the bounded hour of history, the rigs counted by family and
state (hostile and numerous keys bounded), the audit log's recent records read back."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from coordinator import audit as audit_mod
from coordinator.audit import AuditLog
from coordinator.history import History
from coordinator.rigs_view import MAX_KEYS, count_rigs


def test_history_keeps_one_hour_at_most_one_sample_per_step() -> None:
    h = History(span_s=60.0, every_s=5.0)
    for t in range(0, 301):  # five minutes, a sample a second
        h.add("a", float(t), 0.02, 0.01 + t * 1e-6)
    points = h.series(300.0)["a"]
    assert len(points) <= h.capacity
    assert points[0][0] >= 240.0 and points[-1] == [300.0, 0.02, 0.01 + 300e-6]
    gaps = [b[0] - a[0] for a, b in pairwise(points)]
    assert all(g <= 5.0 for g in gaps[:-1])
    h.add("a", 301.0, float("nan"), None)
    assert h.series(301.0)["a"][-1] == [301.0, None, None]
    assert h.series(301.0, since=299.5)["a"][0][0] >= 299.5


def test_rigs_are_counted_by_family_and_state_and_bounded() -> None:
    rigs = [{"firmware": "luxos", "state": "hashing", "model": "S19"}] * 3
    rigs += [{"firmware": "braiins", "state": "asleep", "model": "S21"}]
    rigs += [{"firmware": "<b>x</b>\x1b[31m", "state": None, "model": 5}]
    rigs += [{"firmware": f"fw{i}", "state": "hashing", "model": "S19"} for i in range(100)]
    rigs += ["not a rig"]
    c = count_rigs({"rigs": rigs})
    assert c["total"] == 105
    assert c["by_family"]["luxos"] == {"hashing": 3}
    assert c["by_family"]["braiins"] == {"asleep": 1}
    assert c["by_family"]["<b>x</b>\\x1b[31m"] == {"unknown": 1}  # escaped, kept as text
    assert len(c["by_family"]) == MAX_KEYS + 1 and c["by_family"]["other"]["hashing"] > 0
    assert c["by_model"]["unknown"] == 1
    assert count_rigs(None) == {"total": 0, "by_family": {}, "by_model": {}}


def test_the_audit_logs_recent_records_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_mod, "TAIL_BYTES", 2000)
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(100):
        log.write("command", ts=1.0 + i, site="a", mw=i)
    assert [r["mw"] for r in log.recent][-3:] == [97, 98, 99]
    with open(path, "a") as f:
        f.write('{"torn')
    again = AuditLog(path)
    assert again.recent and again.recent[-1]["mw"] == 99
    assert len(again.recent) < 100  # only the tail was read
    assert all(isinstance(r["mw"], int) for r in again.recent)
