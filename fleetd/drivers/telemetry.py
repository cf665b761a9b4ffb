"""Telemetry from pyasic's MinerData, for firmware read through pyasic's get_data().

pyasic's get_data() swallows transport errors and returns empty fields, so a reading
with neither power nor hashrate is a failed read (ok=False), never a rig at 0 W.
"""

from __future__ import annotations

from typing import Any

from fleetd.drivers.base import RigReading
from fleetd.planner.fleet import RigState

# what the driver asks pyasic's get_data() for (pyasic's DataOptions values)
GENERIC_READ = ("hashrate", "wattage", "wattage_limit", "hashboards", "fans", "is_mining",
                "uptime")  # fmt: skip


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def reading_from_miner_data(host: str, data: Any, read_at: float) -> RigReading:
    """A RigReading from a pyasic MinerData."""
    watts = _num(getattr(data, "wattage", None))
    ths = _num(getattr(data, "hashrate", None))
    if watts is None and ths is None:
        return RigReading.unknown(host, "pyasic returned neither power nor hashrate", read_at)
    mining = getattr(data, "is_mining", None)
    if mining is False:
        state = RigState.SLEEPING
    elif ths is not None and ths > 0:
        state = RigState.HASHING
    else:
        state = RigState.BOOTING
    temps = tuple(
        float(t) for hb in getattr(data, "hashboards", []) or []
        if (t := getattr(hb, "chip_temp", None) or getattr(hb, "temp", None)) is not None
    )  # fmt: skip
    fans = tuple(int(f.speed) for f in getattr(data, "fans", []) or [] if f.speed is not None)
    return RigReading(
        host=host, ok=True, state=state, read_at=read_at, hashrate_ths=ths, watts=watts,
        power_limit_w=_num(getattr(data, "wattage_limit", None)), temps_c=temps, fans_rpm=fans,
        status={RigState.SLEEPING: "Sleeping", RigState.HASHING: "Hashing"}.get(state, "Booting"),
        model=getattr(data, "model", None), uptime_s=_num(getattr(data, "uptime", None)),
    )  # fmt: skip
