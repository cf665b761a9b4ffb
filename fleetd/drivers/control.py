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
site's figure for the family, from the config (`[drivers.<family>] response_s`; unset:
the site's `response_s`): the planner never counts a rig's reduction before it has
passed, and on an unannounced cut sheds the fastest families first. Typical figures: a
LuxOS profile step or curtail, seconds; Braiins OS' autotuner, tens of seconds; a stock
Antminer's or a Whatsminer's restart drops the draw at once (hashing stops), as does a
Whatsminer percentage. A site measures its own (the meter after a cut).
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
    response_s: float | None = None  # None: the site's response_s

    def __post_init__(self) -> None:
        r = self.response_s
        if r is not None and not (math.isfinite(r) and r >= 0):
            raise ValueError(f"response_s must be finite seconds >= 0, got {self.response_s!r}")

    @classmethod
    def default(cls, firmware: FirmwareKind | str) -> Control:
        kind = FirmwareKind(firmware)
        return cls(DEFAULT_GRANULARITY[kind])

    def response_or(self, site_s: float) -> float:
        return site_s if self.response_s is None else self.response_s

    def __str__(self) -> str:
        r = "the site's" if self.response_s is None else f"{self.response_s:g} s"
        return f"{self.granularity.describe}, response {r}"
