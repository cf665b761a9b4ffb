"""Pure reading of the firmware replies the Braiins, stock Antminer and Whatsminer drivers
ask for (no I/O): one multicommand per rig and cycle instead of pyasic's get_data(), which
asks each figure separately (a gRPC channel, an HTTP request or a TCP connection each).

    bosminer   summary+devs+tunerstatus+fans+temps on 4028 (Braiins OS+)
    bmminer    summary+stats on 4028 (stock Antminer; the work mode is the web CGI's)
    btminer    v2: summary+devs on 4028 and status; v3: get.miner.status summary+edevs,
               get.miner.setting and get.device.info on 4433

Every figure is untrusted: a missing or malformed field is None (or the reply is refused
as a whole with ReplyError when it lacks what a reading needs), never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ReplyError(ValueError):
    """The reply lacks what a reading needs (named)."""


def section(reply: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """One command's reply out of a cgminer-style multicommand answer, if it succeeded."""
    part = reply.get(name)
    if isinstance(part, list) and part and isinstance(part[0], dict):
        part = part[0]
    if not isinstance(part, dict):
        return None
    status = part.get("STATUS")
    if (
        isinstance(status, list)
        and status
        and isinstance(status[0], dict)
        and status[0].get("STATUS") not in ("S", "I")
    ):
        return None
    return part


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _rows(sec: Mapping[str, Any] | None, key: str) -> list[dict[str, Any]]:
    rows = (sec or {}).get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _first(sec: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    rows = _rows(sec, key)
    return rows[0] if rows else {}


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What a reading takes from a reply; None where the firmware did not say."""

    ths: float
    watts: float | None = None
    limit_w: float | None = None
    temps_c: tuple[float, ...] = ()
    fans_rpm: tuple[int, ...] = ()
    uptime_s: float | None = None
    model: str | None = None
    running: bool | None = None  # the miner process mines (False: paused or off)
    pct: int | None = None  # Whatsminer: the power percentage in force


def _fans(values: list[Any]) -> tuple[int, ...]:
    out = []
    for v in values:
        x = _num(v)
        if x is not None and 0 <= x < 100_000:
            out.append(int(x))
    return tuple(out)


def _temps(values: list[Any]) -> tuple[float, ...]:
    out = []
    for v in values:
        x = _num(v)
        if x is not None and -50 < x < 200:
            out.append(x)
    return tuple(out)


def bosminer(reply: Mapping[str, Any]) -> Telemetry:
    """Braiins OS+: hashrate from summary (MHS 1m), the draw and the power target from
    tunerstatus (ApproximateMinerPowerConsumption, PowerLimit, TunerRunning)."""
    summary = _first(section(reply, "summary"), "SUMMARY")
    mhs = _num(summary.get("MHS 1m", summary.get("MHS 5s")))
    if mhs is None:
        raise ReplyError("bosminer: summary has no MHS 1m")
    tuner = _first(section(reply, "tunerstatus"), "TUNERSTATUS")
    running = tuner.get("TunerRunning")
    return Telemetry(
        ths=max(0.0, mhs / 1e6),
        watts=_num(tuner.get("ApproximateMinerPowerConsumption")),
        limit_w=_num(tuner.get("PowerLimit")),
        temps_c=_temps([r.get("Chip") for r in _rows(section(reply, "temps"), "TEMPS")]),
        fans_rpm=_fans([r.get("RPM") for r in _rows(section(reply, "fans"), "FANS")]),
        uptime_s=_num(summary.get("Elapsed")),
        running=running if isinstance(running, bool) else None,
    )


def _board_temp(value: Any) -> float | None:
    """A bmminer chip temperature: a number or "66-68-70-72" (their mean)."""
    x = _num(value)
    if x is not None:
        return x
    parts = [_num(p) for p in str(value).split("-")]
    vals = [p for p in parts if p is not None and p != 0]
    return sum(vals) / len(vals) if vals else None


def bmminer(reply: Mapping[str, Any]) -> Telemetry:
    """Stock Antminer: hashrate from summary (GHS 5s), boards and fans from stats; the
    firmware reports no power (the work mode's watts stand for it)."""
    summary = _first(section(reply, "summary"), "SUMMARY")
    ghs = _num(summary.get("GHS 5s", summary.get("GHS av")))
    if ghs is None:
        raise ReplyError("bmminer: summary has no GHS 5s")
    stats = _rows(section(reply, "stats"), "STATS")
    head = stats[0] if stats else {}
    board = stats[1] if len(stats) > 1 else {}
    temps = [_board_temp(board[k]) for k in sorted(board) if k.startswith("temp_chip")]
    fans = [board[k] for k in sorted(board) if k.startswith("fan") and k[3:].isdigit()]
    model = head.get("Type")
    return Telemetry(
        ths=max(0.0, ghs / 1e3), temps_c=_temps(temps), fans_rpm=_fans(fans),
        uptime_s=_num(summary.get("Elapsed")),
        model=str(model)[:64] if model is not None else None,
    )  # fmt: skip


def _pct(value: Any) -> int | None:
    x = _num(str(value).strip().strip("'") if value is not None else None)
    return int(x) if x is not None and 0 <= x <= 100 else None


def btminer_v2(reply: Mapping[str, Any]) -> Telemetry:
    """Whatsminer API v2: summary (MHS 1m, Power, Power Limit, fans, Elapsed), devs
    (board temperatures) and status (mineroff, power_pct)."""
    summary = _first(section(reply, "summary"), "SUMMARY")
    mhs = _num(summary.get("MHS 1m", summary.get("MHS 5s")))
    if mhs is None:
        raise ReplyError("btminer: summary has no MHS 1m")
    status = reply.get("status")
    if isinstance(status, list) and status and isinstance(status[0], dict):
        status = status[0]
    msg = status.get("Msg") if isinstance(status, dict) else None
    msg = msg if isinstance(msg, dict) else {}
    off = str(msg.get("mineroff", "")).lower()
    return Telemetry(
        ths=max(0.0, mhs / 1e6), watts=_num(summary.get("Power")),
        limit_w=_num(summary.get("Power Limit")),
        temps_c=_temps([r.get("Chip Temp Avg") for r in _rows(section(reply, "devs"),
                                                              "DEVS")]),
        fans_rpm=_fans([summary.get("Fan Speed In"), summary.get("Fan Speed Out")]),
        uptime_s=_num(summary.get("Elapsed")),
        running=None if off not in ("true", "false") else off == "false",
        pct=_pct(msg.get("power_pct")),
    )  # fmt: skip


def _msg(reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict) or reply.get("code") != 0:
        return {}
    msg = reply.get("msg")
    return msg if isinstance(msg, dict) else {}


def btminer_v3(status: Any, setting: Any, info: Any) -> Telemetry:
    """Whatsminer API v3: get.miner.status summary+edevs, get.miner.setting
    (power-percent) and get.device.info (miner.working)."""
    msg = _msg(status)
    summary = msg.get("summary")
    if not isinstance(summary, dict):
        raise ReplyError("btminer v3: get.miner.status has no summary")
    ths = _num(summary.get("hash-1min", summary.get("hash-realtime")))
    if ths is None:
        raise ReplyError("btminer v3: summary has no hash-1min")
    edevs = msg.get("edevs")
    boards = [b for b in edevs if isinstance(b, dict)] if isinstance(edevs, list) else []
    miner = _msg(info).get("miner")
    working = str(miner.get("working", "")).lower() if isinstance(miner, dict) else ""
    return Telemetry(
        ths=max(0.0, ths), watts=_num(summary.get("power-realtime")),
        limit_w=_num(summary.get("power-limit")),
        temps_c=_temps([b.get("chip-temp-avg") for b in boards]),
        fans_rpm=_fans([summary.get("fan-speed-in"), summary.get("fan-speed-out")]),
        uptime_s=_num(summary.get("elapsed")),
        running=None if working not in ("true", "false") else working == "true",
        pct=_pct(_msg(setting).get("power-percent")),
    )  # fmt: skip
