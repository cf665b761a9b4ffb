"""The grid operator's OpenADR 2.0b events as allotment figures: a pure module, shared
by the two VENs (the coordinator's, coordinator.ven, over a portfolio; and fleetd's own,
fleetd.allotment.openadr, over one site's base figure).

An event (as openleadr parses oadrDistributeEvent) carries signals, each a list of
intervals (dtstart, duration, payload). What a VEN here understands, over a base figure
(the portfolio, or the site's base_mw):

    SIMPLE        level 0..3      the base x simple_levels[level] (1.0, 0.7, 0.4, 0.0)
    LOAD_DISPATCH setpoint        the figure becomes the payload (in `dispatch_unit`)
    LOAD_DISPATCH delta           the base plus the payload (negative: less)
    LOAD_CONTROL  x-loadControlCapacity   the base x the payload (0..1)

An event with any other signal is opted out of and not applied; a cancelled one is
dropped. While windows overlap, the lowest figure holds, and no event raises the figure
above the base: the grid may cut, never add. An event that starts now is a live cut;
one that starts later is announced ahead (the coordinator's feed's `next` steps,
fleetd's next_changes), so fleetd pre-sheds for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULT_LEVELS = (1.0, 0.7, 0.4, 0.0)
UNIT_MW = {"W": 1e-6, "kW": 1e-3, "MW": 1.0}


class EventError(ValueError):
    """An event the VEN cannot apply (it opts out)."""


@dataclass(frozen=True, slots=True)
class Window:
    """From `start` to `end` (epoch s) the event's figure applies: `factor` x the
    base, or `mw` absolute, or the base plus `delta_mw`."""

    start: float
    end: float
    event_id: str
    kind: str  # "factor", "setpoint", "delta"
    value: float

    def figure(self, base_mw: float) -> float:
        if self.kind == "factor":
            return base_mw * self.value
        if self.kind == "setpoint":
            return self.value
        return base_mw + self.value


def _seconds(value: Any, where: str, kind: type[datetime | timedelta]) -> float:
    """A time (`kind` datetime: epoch seconds) or a duration (timedelta) as openleadr
    parsed it, or as a plain number of seconds."""
    if isinstance(value, datetime) and kind is datetime:
        return value.timestamp()
    if isinstance(value, timedelta) and kind is timedelta:
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    what = "a time" if kind is datetime else "a duration"
    raise EventError(f"{where}: expected {what}, got {type(value).__name__}")


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def event_windows(
    event: Mapping[str, Any],
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    dispatch_unit: str = "kW",
) -> list[Window]:
    """The windows of one event, or EventError naming what is not understood."""
    descriptor = _get(event, "event_descriptor") or {}
    event_id = str(_get(descriptor, "event_id") or "?")[:64]
    signals = _get(event, "event_signals")
    if isinstance(signals, Mapping):
        signals = signals.get("event_signals")
    if not isinstance(signals, list) or not signals:
        raise EventError(f"event {event_id!r}: no signals")
    scale = UNIT_MW[dispatch_unit]
    out: list[Window] = []
    for sig in signals:
        name, stype = _get(sig, "signal_name"), _get(sig, "signal_type")
        intervals = _get(sig, "intervals") or []
        for k, iv in enumerate(intervals):
            where = f"event {event_id!r} {name} interval {k}"
            start = _seconds(_get(iv, "dtstart"), f"{where}.dtstart", datetime)
            end = start + _seconds(_get(iv, "duration"), f"{where}.duration", timedelta)
            payload = _get(iv, "signal_payload")
            if isinstance(payload, bool) or not isinstance(payload, int | float):
                raise EventError(f"{where}: payload {payload!r:.20}; expected a number")
            p = float(payload)
            if not math.isfinite(p):
                raise EventError(f"{where}: payload is not finite")
            if name == "SIMPLE" and stype == "level":
                level = int(p)
                if level != p or not 0 <= level < len(levels):
                    raise EventError(f"{where}: SIMPLE level {p:g}; expected 0..{len(levels) - 1}")
                out.append(Window(start, end, event_id, "factor", float(levels[level])))
            elif name == "LOAD_DISPATCH" and stype in ("setpoint", "delta"):
                value = p * scale
                if stype == "setpoint" and value < 0:
                    raise EventError(f"{where}: a negative setpoint")
                out.append(Window(start, end, event_id, str(stype), value))
            elif name == "LOAD_CONTROL" and stype == "x-loadControlCapacity":
                if not 0 <= p <= 1:
                    raise EventError(f"{where}: capacity {p:g}; expected 0..1")
                out.append(Window(start, end, event_id, "factor", p))
            else:
                raise EventError(f"event {event_id!r}: signal {name!r:.40} of type {stype!r:.40} "
                                 "is not one this VEN applies")  # fmt: skip
    return out


def figure_at(base_mw: float, windows: Iterable[Window], t: float) -> float:
    """The figure at `t`: the lowest figure of the windows in force, never above
    `base_mw` (the operator's portfolio, or a site's base), never below 0."""
    mw = base_mw
    for w in windows:
        if w.start <= t < w.end:
            mw = min(mw, w.figure(base_mw))
    return max(0.0, mw)


def boundaries(windows: Iterable[Window], now: float, horizon_s: float) -> list[float]:
    """The moments in (now, now + horizon_s] at which the figure may change."""
    end = now + horizon_s
    return sorted({t for w in windows for t in (w.start, w.end) if now < t <= end})
