"""Pure reading of a LuxOS multicommand reply (no I/O): telemetry and the profile ladder.

The driver asks `summary+power+stats+config+fans` (plus `profiles` once: a model's
ladder does not change) in one request -- one TCP connection per rig per cycle, which is
what makes a 1,000-rig read cycle cheap. pyasic 0.79 itself takes LuxOS hashrate only
from the hashboards and returns None for models it has no board count for; reading the
chain rates (and the summary as a fallback) here works for every model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetd.drivers.replies import section
from fleetd.planner.fleet import RigState

READ_COMMANDS = ("summary", "power", "stats", "config", "fans")

# LuxOS SystemStatus / cgminer words -> the planner's states
_STATUS_STATE = {
    "sleeping": RigState.SLEEPING,
    "curtailed": RigState.SLEEPING,
    "booting": RigState.BOOTING,
    "ramping": RigState.HASHING,
    "hashing": RigState.HASHING,
    "mining": RigState.HASHING,
    "overheated": RigState.DERATED,
    "failed": RigState.UNREACHABLE,
}


class LuxosReplyError(ValueError):
    """The reply lacks what a reading needs (named)."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    watts: float
    ths: float | None


@dataclass(frozen=True, slots=True)
class LuxosTelemetry:
    state: RigState
    status: str
    hashrate_ths: float
    watts: float
    profile: str | None
    temps_c: tuple[float, ...]
    fans_rpm: tuple[int, ...]
    uptime_s: float | None
    model: str | None
    # CONFIG IsAtmEnabled: lets a profile change skip asking `atm` first (None: not given)
    atm_enabled: bool | None = None


def parse_profiles(reply: Mapping[str, Any]) -> tuple[Profile, ...]:
    """The ladder from a `profiles` reply (alone or inside a multicommand), watts ascending."""
    sec = section(reply, "profiles") if "profiles" in reply else dict(reply)
    rows = (sec or {}).get("PROFILES")
    if not isinstance(rows, list) or not rows:
        raise LuxosReplyError("profiles: reply has no PROFILES list")
    out = []
    for row in rows:
        try:
            ths = row.get("Hashrate")
            out.append(Profile(str(row["Profile Name"]), float(row["Watts"]),
                               None if ths is None else float(ths)))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise LuxosReplyError(f"profiles: malformed row {row!r}: {exc}") from None
    return tuple(sorted(out, key=lambda p: p.watts))


def pick_profile(profiles: Sequence[Profile], watts: float) -> Profile | None:
    """What pyasic 0.79's set_power_limit(W) selects: the highest profile with Watts <= W."""
    fitting = [p for p in profiles if p.watts <= watts]
    return max(fitting, key=lambda p: p.watts) if fitting else None


def _temps(board: str) -> float | None:
    vals = [int(v) for v in str(board).split("-") if v.strip().lstrip("-").isdigit()]
    vals = [v for v in vals if v != 0]
    return sum(vals) / len(vals) if vals else None


def parse_telemetry(reply: Mapping[str, Any]) -> LuxosTelemetry:
    """Telemetry from a `summary+power+stats+config+fans` reply; LuxosReplyError if the
    reply is empty or lacks the power figure (a connection refused arrives as {})."""
    power = section(reply, "power")
    if power is None:
        raise LuxosReplyError("no usable 'power' section in the reply")
    try:
        watts = float(power["POWER"][0]["Watts"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise LuxosReplyError("power: POWER[0].Watts missing or not a number") from None
    stats = section(reply, "stats")
    board: dict[str, Any] = {}
    if stats is not None and isinstance(stats.get("STATS"), list) and len(stats["STATS"]) > 1:
        board = stats["STATS"][1]
    rates = [float(v) for k, v in board.items() if k.startswith("chain_rate") and
             k[len("chain_rate"):].isdigit()]  # fmt: skip
    hashrate_gh: float | None = sum(rates) if rates else None
    if hashrate_gh is None:
        summary = section(reply, "summary")
        try:
            hashrate_gh = float(summary["SUMMARY"][0]["GHS 5s"])  # type: ignore[index]
        except (KeyError, IndexError, TypeError, ValueError):
            raise LuxosReplyError("neither stats chain rates nor summary GHS 5s") from None
    temps = tuple(
        t for k in sorted(board) if k.startswith("temp_chip")
        if (t := _temps(board[k])) is not None
    )  # fmt: skip
    fans_sec = section(reply, "fans")
    fans = tuple(int(f.get("RPM", 0)) for f in (fans_sec or {}).get("FANS", []))
    config = (section(reply, "config") or {}).get("CONFIG", [{}])[0]
    profile = config.get("Profile")
    atm = config.get("IsAtmEnabled")
    curtail = str(config.get("CurtailMode", "")).lower()
    status = str(config.get("SystemStatus", ""))
    ths = hashrate_gh / 1000.0
    if curtail == "sleep":
        state = RigState.SLEEPING
    elif status.lower() in _STATUS_STATE:
        state = _STATUS_STATE[status.lower()]
    else:
        state = RigState.HASHING if ths > 0 else RigState.BOOTING
    if not status:
        status = {RigState.SLEEPING: "Sleeping", RigState.HASHING: "Hashing"}.get(state, "Booting")
    uptime = board.get("Elapsed")
    model = None
    if stats is not None and stats.get("STATS"):
        model = stats["STATS"][0].get("Type")
    return LuxosTelemetry(
        state=state, status=status, hashrate_ths=ths, watts=watts,
        profile=None if profile is None else str(profile), temps_c=temps, fans_rpm=fans,
        uptime_s=None if uptime is None else float(uptime), model=model,
        atm_enabled=atm if isinstance(atm, bool) else None,
    )  # fmt: skip
