"""The audit log: append, fsync in batches, read back; torn writes vs corruption."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fleetd.audit import AuditError, AuditLog, Signal, read_audit
from fleetd.drivers import ApplyResult, Target


class Clock:
    def __init__(self, t: float = 1_750_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def result(host: str, target: Target, ok: bool = True, error: str = "") -> ApplyResult:
    return ApplyResult(host, target, ok, at=0.0, attempts=1 if ok else 2, latency_s=0.0123,
                       error=error)  # fmt: skip


def test_round_trip_with_signals_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    clock = Clock()
    cut = Signal("tso:TSO-88", "tso 3.2 MW; others: licence 5", allotment_mw=3.2, bound_by="tso")
    with AuditLog(path, fsync_every=1000, fsync_interval_s=3600, clock=clock) as log:
        log.signal("north", cut, previous_mw=4.0)
        log.command("north", result("127.1.0.1", Target.sleep()), cut, plan_id="p1")
        clock.t += 5
        log.command("north", result("127.1.0.2", Target.limit_watts(2000)), cut, plan_id="p1")
        log.command("south", result("127.2.0.1", Target.wake(profile="350MHz"), False,
                                    "no answer within 15 s"), cut)  # fmt: skip
        log.note("north", "emergency stop", by="alice")
        assert log.unsynced == 5
    recs = list(read_audit(path))
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5]
    assert [r.kind for r in recs] == ["signal", "command", "command", "command", "note"]
    sleep = recs[1]
    assert (sleep.rig, sleep.command, sleep.ok, sleep.plan_id) == ("127.1.0.1", "sleep", True, "p1")
    assert sleep.signal == cut and sleep.latency_s == pytest.approx(0.0123)
    assert recs[2].command == "watts:2000W"
    failed = recs[3]
    assert failed.ok is False and failed.error == "no answer within 15 s" and failed.attempts == 2
    assert failed.command == "wake:350MHz"
    assert recs[0].extra == {"previous_mw": 4.0} and recs[4].extra["text"] == "emergency stop"
    north = list(read_audit(path, site="north", kinds=("command",)))
    assert [r.rig for r in north] == ["127.1.0.1", "127.1.0.2"]
    late = list(read_audit(path, since=clock.t))
    assert [r.seq for r in late] == [3, 4, 5]
    early = list(read_audit(path, until=clock.t))
    assert [r.seq for r in early] == [1, 2]
    for line in path.read_text().splitlines():  # plain JSON lines, one record each
        assert json.loads(line)["site"] in ("north", "south")


def test_fsync_in_batches_and_on_time(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", fsync_every=3, fsync_interval_s=3600)
    sig = Signal("c1", "test")
    for i in range(7):
        log.command("s", result(f"10.0.0.{i}", Target.sleep()), sig)
    assert log.syncs == 2 and log.unsynced == 1  # after records 3 and 6
    log.close()
    assert log.syncs == 3 and log.unsynced == 0
    timed = AuditLog(tmp_path / "b.jsonl", fsync_every=1000, fsync_interval_s=1e-6)
    timed.signal("s", sig)
    time.sleep(0.001)  # the interval must have passed: a tick can come within a microsecond
    timed.tick()
    assert timed.syncs >= 1 and timed.unsynced == 0
    timed.close()
    with pytest.raises(AuditError, match="closed"):
        timed.signal("s", sig)


def test_reopen_continues_numbering_and_marks_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sig = Signal("c1", "test")
    with AuditLog(path) as log:
        log.signal("s", sig)
        log.signal("s", sig)
    with path.open("ab") as f:
        f.write(b'{"seq":3,"ts":1,"kind":"comm')  # the process died mid-write
    assert [r.seq for r in read_audit(path)] == [1, 2]  # a torn last line is skipped
    with AuditLog(path) as log:
        rec = log.signal("s", sig)
    recs = list(read_audit(path))
    assert [r.kind for r in recs] == ["signal", "signal", "recovered", "signal"]
    assert recs[2].extra["torn_bytes"] == len(b'{"seq":3,"ts":1,"kind":"comm')
    assert rec.seq == 4
    # corruption elsewhere is an error naming the line
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"garbage"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(AuditError, match=rf"{path}: line 2: not an audit record"):
        list(read_audit(path))
    with pytest.raises(AuditError, match="cannot read audit log"):
        list(read_audit(tmp_path / "missing.jsonl"))


def test_records_are_standard_json_lines_and_old_lines_still_read(tmp_path: Path) -> None:
    """Compact, keys sorted, empty fields left out; numpy figures and NaN (a sleeping rig's
    target) written as plain JSON; a line with json's NaN extension, as earlier versions
    wrote them, still reads."""
    import numpy as np

    path = tmp_path / "audit.jsonl"
    sig = Signal("c1", "cut", allotment_mw=None)
    with AuditLog(path, clock=Clock()) as log:
        log.command("s", result("10.0.0.1", Target.sleep()), sig, plan_id="p",
                    target_w=round(float("nan"), 1), hold_broken=np.bool_(False),
                    kw=np.float64(2.5), n=np.int64(3))  # fmt: skip
    line = path.read_bytes().splitlines()[0]
    doc = json.loads(line)
    assert list(doc) == sorted(doc) and b", " not in line and b'": ' not in line
    assert doc["extra"] == {"target_w": None, "hold_broken": False, "kw": 2.5, "n": 3}
    assert doc["signal"] == {"change_id": "c1", "reason": "cut", "allotment_mw": None,
                             "bound_by": ""}  # fmt: skip
    assert "error" not in doc and doc["ok"] is True and doc["attempts"] == 1
    with path.open("ab") as f:  # as json.dumps wrote a NaN before
        f.write(b'{"extra":{"target_w":NaN},"kind":"command","ok":true,"seq":2,"site":"s",'
                b'"ts":1750000000.0}\n')  # fmt: skip
    recs = list(read_audit(path))
    assert [r.seq for r in recs] == [1, 2] and recs[1].extra["target_w"] != 0
    assert recs[0].signal == sig and recs[0].extra["target_w"] is None
    with AuditLog(path) as log:  # the numbering continues past the old line
        assert log.signal("s", sig).seq == 3
