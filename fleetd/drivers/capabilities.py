"""What each firmware family lets fleetd command, and how to tell them apart in pyasic.

    luxos       discrete frequency profiles (pyasic set_power_limit picks the highest
                profile whose watts fit); sleep/wake through `curtail`
    braiins     a continuous power target in watts; pause/resume mining
    stock       Antminer stock firmware: modes only (sleep, low, normal)
    whatsminer  a power percentage (1 % steps) or a power limit in watts; power off/on

How each rig is commanded within these (its granularity) and how fast it responds is
its driver's `Control` (fleetd.drivers.control).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, auto
from typing import Any

from fleetd.models import Firmware


class FirmwareKind(StrEnum):
    """The firmware families fleetd drives; the value (the member's name in lower case)
    is the spelling configs, metrics and the API use."""

    LUXOS = auto()
    BRAIINS = auto()
    STOCK = auto()
    WHATSMINER = auto()


@dataclass(frozen=True, slots=True)
class Capabilities:
    firmware: FirmwareKind
    control: Firmware  # how the planner must plan this rig (continuous / profiles / modes)
    can_sleep: bool
    watt_limit: bool  # accepts a power limit in watts (set_power_limit)
    profiles: bool  # accepts a named profile
    modes: tuple[str, ...]  # named modes besides sleep (stock firmware)
    session: bool  # privileged commands need a session id (LuxOS)


CAPABILITIES: dict[FirmwareKind, Capabilities] = {
    FirmwareKind.LUXOS: Capabilities(
        FirmwareKind.LUXOS, Firmware.PROFILES, can_sleep=True, watt_limit=True,
        profiles=True, modes=(), session=True,
    ),
    FirmwareKind.BRAIINS: Capabilities(
        FirmwareKind.BRAIINS, Firmware.CONTINUOUS, can_sleep=True, watt_limit=True,
        profiles=False, modes=(), session=False,
    ),
    FirmwareKind.STOCK: Capabilities(
        FirmwareKind.STOCK, Firmware.MODES, can_sleep=True, watt_limit=False,
        profiles=False, modes=("low", "normal"), session=False,
    ),
    FirmwareKind.WHATSMINER: Capabilities(
        FirmwareKind.WHATSMINER, Firmware.CONTINUOUS, can_sleep=True, watt_limit=True,
        profiles=False, modes=(), session=False,
    ),
}  # fmt: skip


def capabilities(firmware: FirmwareKind | str) -> Capabilities:
    try:
        return CAPABILITIES[FirmwareKind(firmware)]
    except ValueError:
        expected = ", ".join(k.value for k in FirmwareKind)
        raise ValueError(f"unknown firmware {firmware!r}; expected one of {expected}") from None


def firmware_of(miner: Any) -> FirmwareKind | None:
    """The family of a pyasic miner object (None for firmware fleetd cannot drive)."""
    from pyasic.device.firmware import MinerFirmware
    from pyasic.device.makes import MinerMake

    fw = getattr(miner, "firmware", None)
    make = getattr(miner, "make", None)
    if fw == MinerFirmware.LUXOS:
        return FirmwareKind.LUXOS
    if fw == MinerFirmware.BRAIINS_OS:
        return FirmwareKind.BRAIINS
    if fw == MinerFirmware.STOCK and make == MinerMake.WHATSMINER:
        return FirmwareKind.WHATSMINER
    if fw == MinerFirmware.STOCK and make == MinerMake.ANTMINER:
        return FirmwareKind.STOCK
    return None
