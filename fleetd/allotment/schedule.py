"""A known allotment timetable: a step function of time (e.g. a day of hydro surplus).

Files:
  CSV   a header row naming a time column (start, time or timestamp) and `mw`, then one
        row per step; '#' starts a comment line. Times are ISO 8601; a time without a UTC
        offset is read in the schedule's time zone (an IANA name such as Europe/Oslo).
  TOML  optional `timezone = "Europe/Oslo"`, then `[[step]]` tables with `start` (a TOML
        date-time, with or without offset) and `mw`.

Step i applies from its start until the next step starts; the last step holds after the
end unless the schedule repeats (`repeat_s`, e.g. a daily profile). Before the first step
the schedule does not apply. Times in the gap of a daylight-saving change do not exist
and are rejected; ambiguous ones take their first occurrence (give offsets to be exact).

`next_changes(now, horizon)` lists the steps ahead so a site can shed before a cut starts;
`compressed(factor, start_at)` replays the timetable faster (the demo runs a day in minutes).
"""

from __future__ import annotations

import bisect
import csv
import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    ScheduledChange,
    SourceStatus,
    check_mw,
)

TIME_COLUMNS = ("start", "time", "timestamp")


def zone(name: str | None, where: str) -> tzinfo | None:
    """The tzinfo for an IANA name (None stays None), or AllotmentError naming `where`."""
    if name is None:
        return None
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AllotmentError(
            f"{where}: unknown time zone {name!r}; expected an IANA name such as "
            "'Europe/Oslo' or 'UTC'"
        ) from None


def to_epoch(value: datetime, tz: tzinfo | None, where: str) -> float:
    """Epoch seconds of a date-time; a naive one is read in `tz` (required then)."""
    if value.tzinfo is not None:
        return value.timestamp()
    if tz is None:
        raise AllotmentError(
            f"{where}: time {value.isoformat()} has no UTC offset and the schedule has no "
            "time zone; expected e.g. 2025-06-21T06:00:00+02:00 or a timezone setting"
        )
    local = value.replace(tzinfo=tz)
    back = datetime.fromtimestamp(local.timestamp(), tz).replace(tzinfo=None)
    if back != value:
        raise AllotmentError(
            f"{where}: local time {value.isoformat()} does not exist in {tz} (a daylight-"
            "saving gap); expected a time that exists, or one with a UTC offset"
        )
    return local.timestamp()


def parse_time(text: str, tz: tzinfo | None, where: str) -> float:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AllotmentError(
            f"{where}: {text!r} is not an ISO 8601 time; expected e.g. 2025-06-21T06:00:00+02:00"
        ) from None
    return to_epoch(value, tz, where)


@dataclass
class ScheduleSource:
    """A step function: `mw[i]` applies from `times[i]` (epoch s) until `times[i + 1]`."""

    times: Sequence[float]
    mw: Sequence[float]
    name: str = "schedule"
    repeat_s: float | None = None  # the timetable starts over every repeat_s seconds
    origin: str = "<schedule>"  # the file it came from, for messages
    kind: str = field(default="schedule", init=False)

    def __post_init__(self) -> None:
        self.times = [float(t) for t in self.times]
        self.mw = [check_mw(f"{self.origin}: step {i + 1} mw", m) for i, m in enumerate(self.mw)]
        if not self.times or len(self.times) != len(self.mw):
            raise AllotmentError(
                f"{self.origin}: expected at least one step and one mw per time, got "
                f"{len(self.times)} times and {len(self.mw)} figures"
            )
        for i in range(1, len(self.times)):
            if not self.times[i] > self.times[i - 1]:
                raise AllotmentError(
                    f"{self.origin}: step {i + 1} starts at {_iso(self.times[i])}, not after "
                    f"step {i} ({_iso(self.times[i - 1])}); expected strictly increasing times"
                )
        if self.repeat_s is not None:
            span = self.times[-1] - self.times[0]
            if not (math.isfinite(self.repeat_s) and self.repeat_s > span):
                raise AllotmentError(
                    f"{self.origin}: repeat_s {self.repeat_s!r} must exceed the timetable's "
                    f"span of {span:g} s"
                )

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        name: str = "schedule",
        timezone: str | None = None,
        repeat_s: float | None = None,
    ) -> ScheduleSource:
        """Load a .csv or .toml timetable (see the module docstring)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise AllotmentError(f"{p}: cannot read schedule: {exc.strerror}") from None
        if p.suffix.lower() == ".csv":
            times, mws = _parse_csv(text, zone(timezone, str(p)), str(p))
        elif p.suffix.lower() == ".toml":
            times, mws = _parse_toml(text, timezone, str(p))
        else:
            raise AllotmentError(f"{p}: expected a schedule file ending in .csv or .toml")
        return cls(times, mws, name=name, repeat_s=repeat_s, origin=str(p))

    def compressed(self, factor: float, start_at: float) -> ScheduleSource:
        """The same timetable played `factor` times faster, its first step at `start_at`."""
        if not (math.isfinite(factor) and factor > 0):
            raise AllotmentError(f"{self.origin}: time compression must be > 0, got {factor!r}")
        t0 = self.times[0]
        times = [start_at + (t - t0) / factor for t in self.times]
        repeat = None if self.repeat_s is None else self.repeat_s / factor
        return ScheduleSource(times, list(self.mw), self.name, repeat, self.origin)

    # ------------------------------------------------------------------ reading

    def _fold(self, now: float) -> tuple[float, float]:
        """(time inside the first period, start of the period containing now)."""
        t0 = self.times[0]
        if self.repeat_s is None or now < t0:
            return now, 0.0
        k = math.floor((now - t0) / self.repeat_s)
        return now - k * self.repeat_s, k * self.repeat_s

    def current(self, now: float) -> AllotmentReading | None:
        t, shift = self._fold(now)
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return None
        start = self.times[i] + shift
        return AllotmentReading(
            self.mw[i], start, self.name, f"{self.name}@{_iso(start)}", detail=f"step {i + 1}"
        )

    def steps(self) -> list[tuple[float, float]]:
        return list(zip(self.times, self.mw, strict=True))

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        """Steps that change the figure and start in (now, now + horizon_s]."""
        end = now + max(0.0, horizon_s)
        out: list[ScheduledChange] = []
        cur = self.current(now)
        last = None if cur is None else cur.mw
        n = len(self.times)
        t, shift = self._fold(now)
        i = bisect.bisect_right(self.times, t)  # the next step in this period
        while True:
            if i >= n:
                if self.repeat_s is None:
                    break
                i, shift = 0, shift + self.repeat_s
            at = self.times[i] + shift
            if at > end:
                break
            if at > now and self.mw[i] != last:
                out.append(ScheduledChange(at, self.mw[i], self.name))
                last = self.mw[i]
            i += 1
        return out

    def status(self, now: float) -> SourceStatus:
        cur = self.current(now)
        if cur is None:
            return SourceStatus(self.name, self.kind, None, None, None, stale=False)
        return SourceStatus(self.name, self.kind, cur.mw, cur.as_of, cur.age_s(now), stale=False)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _parse_csv(text: str, tz: tzinfo | None, origin: str) -> tuple[list[float], list[float]]:
    rows = [
        (n, row)
        for n, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise AllotmentError(f"{origin}: empty schedule; expected a header 'start,mw' and rows")
    header_line, header = rows[0]
    cols = [c.strip().lower() for c in header]
    tcol = next((cols.index(c) for c in TIME_COLUMNS if c in cols), None)
    if tcol is None or "mw" not in cols:
        raise AllotmentError(
            f"{origin}: line {header_line}: header {header!r} must name a time column "
            f"({' or '.join(TIME_COLUMNS)}) and 'mw'"
        )
    mcol = cols.index("mw")
    times: list[float] = []
    mws: list[float] = []
    for line, row in rows[1:]:
        where = f"{origin}: line {line}"
        if len(row) <= max(tcol, mcol):
            raise AllotmentError(f"{where}: expected {len(cols)} columns, got {len(row)}")
        times.append(parse_time(row[tcol], tz, where))
        try:
            mw = float(row[mcol])
        except ValueError:
            raise AllotmentError(
                f"{where}: mw {row[mcol].strip()!r} is not a number; expected megawatts"
            ) from None
        mws.append(check_mw(f"{where}: mw", mw))
    if not times:
        raise AllotmentError(f"{origin}: the schedule has a header but no steps")
    return times, mws


def _parse_toml(
    text: str, timezone: str | None, origin: str
) -> tuple[list[float], list[float]]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AllotmentError(f"{origin}: not valid TOML: {exc}") from None
    file_tz = doc.get("timezone")
    if file_tz is not None and not isinstance(file_tz, str):
        raise AllotmentError(f"{origin}: key 'timezone': expected an IANA zone name string")
    tz = zone(file_tz or timezone, f"{origin}: key 'timezone'")
    steps: Any = doc.get("step", doc.get("steps"))
    if not isinstance(steps, list) or not steps:
        raise AllotmentError(
            f"{origin}: key 'step': expected [[step]] tables with start and mw, got {steps!r}"
        )
    times: list[float] = []
    mws: list[float] = []
    for i, step in enumerate(steps):
        where = f"{origin}: key 'step[{i}]"
        if not isinstance(step, dict) or set(step) - {"start", "mw"} or "start" not in step:
            raise AllotmentError(f"{where}': expected a table with keys start and mw, got {step!r}")
        start = step["start"]
        if isinstance(start, str):
            times.append(parse_time(start, tz, f"{where}.start'"))
        elif isinstance(start, datetime):
            times.append(to_epoch(start, tz, f"{where}.start'"))
        elif isinstance(start, date):  # a whole day: from its midnight
            times.append(to_epoch(datetime.combine(start, time()), tz, f"{where}.start'"))
        else:
            raise AllotmentError(f"{where}.start': expected a date-time, got {start!r}")
        mws.append(check_mw(f"{where}.mw'", step.get("mw")))
    return times, mws


def schedule_from_points(
    points: Iterable[tuple[datetime, float]], *, name: str = "schedule"
) -> ScheduleSource:
    """A schedule from aware date-times (tests and programmatic use)."""
    pts = list(points)
    return ScheduleSource(
        [to_epoch(t, None, name) for t, _ in pts], [m for _, m in pts], name=name
    )
