"""Schedules: CSV and TOML timetables with time zones, the step rule, upcoming changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fleetd.allotment import AllotmentError, ScheduleSource

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OSLO = ZoneInfo("Europe/Oslo")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_offsets_is_a_step_function(tmp_path: Path) -> None:
    p = write(tmp_path, "s.csv", "# a comment\nstart,mw\n"
              "2025-06-21T00:00:00+02:00,5\n2025-06-21T06:00:00+02:00,3.5\n"
              "2025-06-21T12:00:00Z,4\n")  # fmt: skip
    s = ScheduleSource.from_file(p, name="hydro")
    assert s.current(ts("2025-06-20T23:59:59+02:00")) is None  # before the first step
    r = s.current(ts("2025-06-21T05:59:59+02:00"))
    assert r is not None and r.mw == 5.0 and r.source == "hydro"
    assert r.as_of == ts("2025-06-21T00:00:00+02:00")
    assert s.current(ts("2025-06-21T06:00:00+02:00")).mw == 3.5  # type: ignore[union-attr]
    # 12:00Z is 14:00 in Oslo: 13:59 local still 3.5
    assert s.current(ts("2025-06-21T13:59:00+02:00")).mw == 3.5  # type: ignore[union-attr]
    assert s.current(ts("2025-06-21T14:00:00+02:00")).mw == 4.0  # type: ignore[union-attr]
    assert s.current(ts("2025-07-01T00:00:00+02:00")).mw == 4.0  # type: ignore[union-attr]


def test_naive_times_are_read_in_the_schedule_time_zone(tmp_path: Path) -> None:
    p = write(tmp_path, "s.csv", "time,mw\n2025-01-15T08:00:00,2\n2025-06-15T08:00:00,3\n")
    s = ScheduleSource.from_file(p, timezone="Europe/Oslo")
    winter, summer = s.times
    assert winter == datetime(2025, 1, 15, 7, 0, tzinfo=UTC).timestamp()  # CET = UTC+1
    assert summer == datetime(2025, 6, 15, 6, 0, tzinfo=UTC).timestamp()  # CEST = UTC+2
    with pytest.raises(AllotmentError, match=r"s\.csv: line 2: .*no UTC offset"):
        ScheduleSource.from_file(p)


def test_a_local_time_in_the_dst_gap_is_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "gap.csv", "start,mw\n2025-03-30T01:45:00,2\n2025-03-30T02:30:00,3\n")
    with pytest.raises(AllotmentError, match=r"gap\.csv: line 3: .*does not exist"):
        ScheduleSource.from_file(p, timezone="Europe/Oslo")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("start,mw\n", "no steps"),
        ("when,mw\n2025-01-01T00:00:00Z,1\n", r"line 1: header .* must name a time column"),
        ("start,mw\n2025-01-01T00:00:00Z,lots\n", r"line 2: mw 'lots' is not a number"),
        ("start,mw\n2025-01-01T00:00:00Z,-1\n",
         r"line 2: mw: expected finite megawatts in \[0, 100000\], got -1"),
        ("start,mw\nyesterday,1\n", r"line 2: 'yesterday' is not an ISO 8601 time"),
        ("start,mw\n2025-01-01T01:00:00Z,1\n2025-01-01T00:00:00Z,2\n",
         r"step 2 starts at .* not after step 1"),
    ],
)  # fmt: skip
def test_bad_csv_names_file_line_and_expectation(tmp_path: Path, text: str, match: str) -> None:
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(AllotmentError, match=match) as info:
        ScheduleSource.from_file(p)
    assert str(p) in str(info.value)


def test_toml_schedule_with_file_time_zone(tmp_path: Path) -> None:
    p = write(tmp_path, "s.toml", 'timezone = "Europe/Oslo"\n'
              "[[step]]\nstart = 2025-06-21T00:00:00\nmw = 10\n"
              "[[step]]\nstart = 2025-06-21T18:00:00+02:00\nmw = 7.5\n")  # fmt: skip
    s = ScheduleSource.from_file(p)
    assert s.times == [ts("2025-06-21T00:00:00+02:00"), ts("2025-06-21T18:00:00+02:00")]
    assert s.mw == [10.0, 7.5]
    bad = write(tmp_path, "b.toml", '[[step]]\nstart = 2025-06-21T00:00:00Z\nmw = "x"\n')
    with pytest.raises(AllotmentError, match=r"b\.toml: key 'step\[0\]\.mw'"):
        ScheduleSource.from_file(bad)
    csv = write(tmp_path, "x.csv", "start,mw\n2025-06-21T00:00:00,1\n")
    with pytest.raises(AllotmentError, match=r"x\.csv: unknown time zone 'Mars/Olympus'"):
        ScheduleSource.from_file(csv, timezone="Mars/Olympus")


def test_next_changes_lists_only_real_changes_within_the_horizon() -> None:
    s = ScheduleSource([0, 100, 200, 300, 400], [5, 5, 3, 3, 4], name="d")
    assert [(c.at, c.mw) for c in s.next_changes(50, 1000)] == [(200, 3.0), (400, 4.0)]
    assert [(c.at, c.mw) for c in s.next_changes(50, 150)] == [(200, 3.0)]
    assert s.next_changes(50, 149) == []
    assert s.next_changes(200, 100) == []  # a step at `now` is not upcoming
    assert s.next_changes(450, 1e6) == []


def test_repeat_and_compress_replay_the_day() -> None:
    day = ScheduleSource([0, 6 * 3600, 18 * 3600], [5, 3, 4], repeat_s=86400)
    assert day.current(86400 + 7 * 3600).mw == 3.0  # type: ignore[union-attr]
    assert day.current(86400 + 7 * 3600).as_of == 86400 + 6 * 3600  # type: ignore[union-attr]
    ahead = day.next_changes(20 * 3600, 12 * 3600)
    assert [(c.at, c.mw) for c in ahead] == [(86400, 5.0), (86400 + 6 * 3600, 3.0)]
    fast = day.compressed(96, start_at=1000.0)  # a day in 15 minutes
    assert fast.times == [1000.0, 1000.0 + 225.0, 1000.0 + 675.0]
    assert fast.repeat_s == 900.0
    assert fast.current(1000 + 900 + 230).mw == 3.0  # type: ignore[union-attr]
    with pytest.raises(AllotmentError, match="must exceed the timetable's span"):
        ScheduleSource([0, 100], [1, 2], repeat_s=50)


def test_demo_csv_is_a_day_in_quarter_hours_with_a_scheduled_cut() -> None:
    s = ScheduleSource.from_file(CONFIGS / "allotment-demo.csv", timezone="Europe/Oslo")
    assert len(s.times) == 96
    assert {b - a for a, b in zip(s.times, s.times[1:], strict=False)} == {900.0}
    start = datetime.fromtimestamp(s.times[0], OSLO)
    assert (start.hour, start.minute, start.utcoffset().total_seconds()) == (0, 0, 7200)  # type: ignore[union-attr]
    assert all(0.2 <= mw <= 0.6 for mw in s.mw)
    cut = ts("2025-06-21T17:00:00+02:00")
    before = s.current(cut - 1)
    changes = s.next_changes(cut - 600, 900)
    assert before is not None and changes and changes[0].at == cut
    assert changes[0].mw <= 0.7 * before.mw + 1e-9  # a 30 % drop, announced ahead
