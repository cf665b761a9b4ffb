"""What a rig can be told, and how fast it carries it out: its control granularity and its
response time (pure data, no I/O).

    luxos       PROFILES  discrete frequency profiles (the ladder the rig lists)
    braiins     WATTS     any whole-watt power target between the tuner's minimum and
                          maximum (the autotuner settles on it over `tune_down_s`)
    stock       MODES     normal, low-power or sleep only (each change restarts bmminer)
    whatsminer  PERCENT   a percentage of the power limit, 1 % steps, at once (default)
                LIMIT     a power limit in watts (btminer restarts to take it)

`response_s` is how long after a command's answer the rig's draw may still be above the
lower target (a shed: a lower profile, target, mode or percentage, or sleep). It is the
site's figure for the family, from the config (`[drivers.<family>] response_s`): the
planner never counts a rig's reduction before it has passed. Defaults are the firmware's
usual figures; a site measures its own (the draw against the meter after a cut).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from fleetd.drivers.capabilities import FirmwareKind
from fleetd.models import Firmware


class Granularity(StrEnum):
    PROFILES = "profiles"
    WATTS = "watts"
    MODES = "modes"
    PERCENT = "percent"
    LIMIT = "limit"

    @property
    def planner(self) -> Firmware:
        """How the planner plans a rig of this granularity."""
        if self == Granularity.PROFILES:
            return Firmware.PROFILES
        if self == Granularity.MODES:
            return Firmware.MODES
        return Firmware.CONTINUOUS

    @property
    def describe(self) -> str:
        return _DESCRIBE[self]


_DESCRIBE = {
    Granularity.PROFILES: "discrete profiles",
    Granularity.WATTS: "continuous watt target (with a minimum)",
    Granularity.MODES: "normal / low-power / sleep",
    Granularity.PERCENT: "power percentage (1 % steps)",
    Granularity.LIMIT: "power limit in watts (restarts btminer)",
}

# the firmware's usual shed times (s): LuxOS steps its clock down in seconds; Braiins OS'
# autotuner takes tens of seconds to settle on a lower target; a stock Antminer's or a
# Whatsminer's restart drops the draw at once (hashing stops), as does a percentage
DEFAULT_RESPONSE_S: dict[FirmwareKind, float] = {
    FirmwareKind.LUXOS: 10.0,
    FirmwareKind.BRAIINS: 30.0,
    FirmwareKind.STOCK: 10.0,
    FirmwareKind.WHATSMINER: 10.0,
}

DEFAULT_GRANULARITY: dict[FirmwareKind, Granularity] = {
    FirmwareKind.LUXOS: Granularity.PROFILES,
    FirmwareKind.BRAIINS: Granularity.WATTS,
    FirmwareKind.STOCK: Granularity.MODES,
    FirmwareKind.WHATSMINER: Granularity.PERCENT,
}


@dataclass(frozen=True, slots=True)
class Control:
    """One rig's control: how it is commanded and how long a shed takes to show."""

    granularity: Granularity
    response_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.response_s) and self.response_s >= 0):
            raise ValueError(f"response_s must be finite seconds >= 0, got {self.response_s!r}")

    @classmethod
    def default(cls, firmware: FirmwareKind | str) -> Control:
        kind = FirmwareKind(firmware)
        return cls(DEFAULT_GRANULARITY[kind], DEFAULT_RESPONSE_S[kind])

    def __str__(self) -> str:
        return f"{self.granularity.describe}, response {self.response_s:g} s"
