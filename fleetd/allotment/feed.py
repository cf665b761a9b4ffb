"""The pure core of a live allotment feed: parse what arrives, decide when it is stale.

A feed message is a JSON object:
    {"mw": 412.5, "as_of": "2025-06-21T06:00:00+02:00", "id": "TSO-8812",
     "next": [{"at": 1750485600, "mw": 300.0}]}
Only the figure is required (its key is configurable, dotted for nested objects, with
a scale for feeds in kW). `as_of` (epoch seconds or ISO 8601 with offset) dates the
figure; without it the receipt time does. Publishers are expected to stamp every message
(a heartbeat): the age that decides staleness runs from `as_of`, so a feed server that
keeps answering with a frozen upstream still goes stale. An `as_of` ahead of our clock is
clamped to the receipt time.

When the figure is older than `stale_after_s` the feed reports its floor -- or the last
figure if that was lower: a curtailment received just before the link died stays in
force until the feed is heard again, because raising the draw on silence is the one
mistake that costs a licence.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    ScheduledChange,
    SourceStatus,
    check_mw,
    shown,
)


@dataclass(frozen=True, slots=True)
class FeedFields:
    """Where the parts of a message are; dotted paths reach into nested objects."""

    mw: str = "mw"
    as_of: str | None = "as_of"
    change_id: str | None = "id"
    next_changes: str | None = "next"
    scale: float = 1.0  # figure x scale = MW (0.001 for a feed in kW)


@dataclass(frozen=True, slots=True)
class FeedValue:
    mw: float
    as_of: float
    change_id: str
    changes: tuple[tuple[float, float], ...] = ()  # (epoch s, MW) announced ahead


def _lookup(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(path)
        cur = cur[part]
    return cur


def _timestamp(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise AllotmentError(
            f"{where}: expected epoch seconds or an ISO 8601 time, got {shown(value)}"
        )
    if isinstance(value, int | float):
        t = float(value)
        if t > 1e12:  # milliseconds
            t /= 1000.0
        if not math.isfinite(t):
            raise AllotmentError(f"{where}: expected a finite timestamp, got {shown(value)}")
        return t
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AllotmentError(f"{where}: {shown(value)} is not an ISO 8601 time") from None
        if dt.tzinfo is None:
            raise AllotmentError(f"{where}: {shown(value)} has no UTC offset; expected e.g. ...Z")
        return dt.timestamp()
    raise AllotmentError(f"{where}: expected epoch seconds or an ISO 8601 time, got {shown(value)}")


def _clean_id(value: Any) -> str:
    """A feed's change id as the audit trail keeps it: printable, at most 64 characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(value)[:64])
    return text


def parse_message(
    payload: Any, fields: FeedFields, received_at: float, source: str
) -> FeedValue:
    """A FeedValue from a decoded JSON message, or AllotmentError saying what is wrong."""
    if not isinstance(payload, dict):
        raise AllotmentError(f"{source}: expected a JSON object, got {type(payload).__name__}")
    try:
        raw = _lookup(payload, fields.mw)
    except KeyError:
        raise AllotmentError(
            f"{source}: message has no {fields.mw!r}; expected the allotment figure there "
            f"(keys: {shown(list(payload)[:8])})"
        ) from None
    mw = check_mw(f"{source}: {fields.mw}", raw) * fields.scale
    as_of = received_at
    if fields.as_of is not None:
        with contextlib.suppress(KeyError):
            stamped = _lookup(payload, fields.as_of)
            as_of = min(_timestamp(stamped, f"{source}: {fields.as_of}"), received_at)
    change_id = ""
    if fields.change_id is not None:
        with contextlib.suppress(KeyError):
            change_id = _clean_id(_lookup(payload, fields.change_id))
    changes: list[tuple[float, float]] = []
    if fields.next_changes is not None:
        try:
            ahead = _lookup(payload, fields.next_changes)
        except KeyError:
            ahead = []
        if not isinstance(ahead, list):
            raise AllotmentError(f"{source}: {fields.next_changes}: expected a list of {{at, mw}}")
        for k, item in enumerate(ahead):
            where = f"{source}: {fields.next_changes}[{k}]"
            if not isinstance(item, dict) or "at" not in item or "mw" not in item:
                raise AllotmentError(f"{where}: expected an object with 'at' and 'mw'")
            changes.append(
                (_timestamp(item["at"], f"{where}.at"),
                 check_mw(f"{where}.mw", item["mw"]) * fields.scale)
            )  # fmt: skip
    return FeedValue(mw, as_of, change_id or f"{source}@{as_of:.3f}", tuple(sorted(changes)))


@dataclass
class FeedState:
    """The last good figure of a feed, its errors, what is wrong and since when, and the
    staleness rule."""

    name: str
    kind: str
    stale_after_s: float
    floor_mw: float
    value: FeedValue | None = None
    received_at: float | None = None
    messages: int = 0
    errors: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    failing_since: float | None = None  # first failure since the last good message
    started_at: float | None = None  # first attempt (what "no figure yet" counts from)

    def __post_init__(self) -> None:
        self.floor_mw = check_mw(f"{self.name}: floor_mw", self.floor_mw)
        if not (math.isfinite(self.stale_after_s) and self.stale_after_s > 0):
            raise AllotmentError(
                f"{self.name}: stale_after_s must be > 0, got {self.stale_after_s!r}"
            )

    def accept(self, value: FeedValue, received_at: float) -> bool:
        """Take a parsed message; False (and a failure) for one older than the figure held:
        an out-of-order message does not roll the figure back."""
        if self.started_at is None:
            self.started_at = received_at
        if self.value is not None and value.as_of < self.value.as_of:
            self.fail(
                f"{self.name}: message as_of {_iso(value.as_of)} is older than the figure held "
                f"(as_of {_iso(self.value.as_of)}); ignored",
                received_at,
            )
            return False
        self.value = value
        self.received_at = received_at
        self.messages += 1
        self.failing_since = None
        return True

    def fail(self, message: str, now: float | None = None) -> None:
        """Count a failed poll or an unusable message; `message` says what was wrong (any
        outside text in it already repr-escaped)."""
        self.errors += 1
        self.last_error = message
        self.last_error_at = now
        if now is not None:
            if self.started_at is None:
                self.started_at = now
            if self.failing_since is None:
                self.failing_since = now

    def age_s(self, now: float) -> float | None:
        return None if self.value is None else max(0.0, now - self.value.as_of)

    def is_stale(self, now: float) -> bool:
        age = self.age_s(now)
        return age is None or age > self.stale_after_s

    def health(self, now: float) -> tuple[str, str, float | None]:
        """(state, reason, trouble since): the feed's state (SOURCE_STATES), what is wrong
        in one line, and since when (epoch s; None when ok)."""
        failing = self.failing_since is not None
        if not self.is_stale(now):
            if failing:
                return "failing", self.last_error, self.failing_since
            return "ok", "", None
        v = self.value
        if failing:
            return "stale", self.last_error, self.failing_since
        if v is None:
            return "stale", f"{self.name}: no figure received yet", self.started_at
        return "stale", (
            f"{self.name}: as_of has not advanced since {_iso(v.as_of)} "
            f"({now - v.as_of:.0f} s; stale after {self.stale_after_s:g} s)"
        ), v.as_of

    def current(self, now: float) -> AllotmentReading:
        v = self.value
        if v is None:
            _, why, _ = self.health(now)
            return AllotmentReading(
                self.floor_mw, now, self.name, f"{self.name}:floor", stale=True,
                detail=f"no figure received yet: floor; {_short(why, self.name)}",
            )  # fmt: skip
        if self.is_stale(now):
            mw = min(self.floor_mw, v.mw)
            _, why, _ = self.health(now)
            return AllotmentReading(
                mw, v.as_of, self.name, f"{self.name}:floor-after:{v.change_id}", stale=True,
                detail=f"feed stale for {now - v.as_of:.0f} s (> {self.stale_after_s:g} s): "
                + ("floor" if mw == self.floor_mw else "last figure, below the floor")
                + f"; {_short(why, self.name)}",
            )  # fmt: skip
        return self.in_force(now)

    def in_force(self, now: float) -> AllotmentReading:
        """The last figure the feed gave (with its announced steps applied), stale or not:
        what the grid operator last said is in force, as opposed to fleetd's fallback
        floor (the compliance report tells the two apart)."""
        v = self.value
        if v is None:
            return self.current(now)
        mw, as_of, cid = v.mw, v.as_of, v.change_id
        for t, step in v.changes:  # an announced step whose time has come applies
            if as_of < t <= now:
                mw, as_of, cid = step, t, f"{v.change_id}+{t:.0f}"
        return AllotmentReading(mw, as_of, self.name, cid)

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        """Announced steps, while the feed is fresh (a stale feed's plans are not trusted,
        but the floor already bounds it)."""
        if self.value is None or self.is_stale(now):
            return []
        end = now + max(0.0, horizon_s)
        return [ScheduledChange(t, mw, self.name) for t, mw in self.value.changes if now < t <= end]

    def status(self, now: float) -> SourceStatus:
        r = self.current(now)
        state, reason, since = self.health(now)
        return SourceStatus(
            self.name, self.kind, r.mw, None if self.value is None else self.value.as_of,
            self.age_s(now), r.stale, self.errors, self.last_error, state, reason, since,
        )  # fmt: skip


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(reason: str, name: str) -> str:
    """A reason without the feed's name in front (the reading names its source)."""
    return reason.removeprefix(f"{name}: ")
