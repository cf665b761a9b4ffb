"""The driver for a rig of a given firmware family, or of a family pyasic identifies.

    PyasicDriver("10.0.0.5", "braiins", timeouts=..., credentials=..., control=...)
        -> BraiinsDriver (fleetd.drivers.braiins_os)
    PyasicDriver("10.0.0.5", None)      identified by pyasic's factory on first use
    PyasicDriver("10.0.0.5", None, miner=found.miner)   handed over by discovery

One backend module per family, over the shared base fleetd.drivers.backend (as pyasic
keeps one backend per firmware):
    luxos       fleetd.drivers.luxminer     LuxosDriver
    braiins     fleetd.drivers.braiins_os   BraiinsDriver
    stock       fleetd.drivers.antminer     AntminerDriver
    whatsminer  fleetd.drivers.btminer      WhatsminerDriver
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from fleetd.drivers.antminer import AntminerDriver
from fleetd.drivers.backend import Credentials, PyasicBackend
from fleetd.drivers.base import ApplyResult, DriverError, DriverTimeouts, RigReading, Target
from fleetd.drivers.braiins_os import BraiinsDriver
from fleetd.drivers.btminer import WhatsminerDriver
from fleetd.drivers.capabilities import Capabilities, FirmwareKind, firmware_of
from fleetd.drivers.control import Control
from fleetd.drivers.luxminer import LuxosDriver

BACKENDS: dict[FirmwareKind, type[PyasicBackend]] = {
    FirmwareKind.LUXOS: LuxosDriver,
    FirmwareKind.BRAIINS: BraiinsDriver,
    FirmwareKind.STOCK: AntminerDriver,
    FirmwareKind.WHATSMINER: WhatsminerDriver,
}

Clock = Callable[[], float]
Settings = Mapping[FirmwareKind, tuple[Credentials, Control]]


def PyasicDriver(
    host: str,
    firmware: FirmwareKind | str | None = FirmwareKind.LUXOS,
    *,
    timeouts: DriverTimeouts | None = None,
    clock: Clock = time.time,
    miner: Any = None,
    credentials: Credentials | None = None,
    control: Control | None = None,
    settings: Settings | None = None,
) -> Any:
    """The family's driver for `host`; with no firmware, the one pyasic identifies (from
    `miner` at once, else on first use). `settings` gives each family's credentials and
    control where the family is only known later."""
    kind = None if firmware is None else FirmwareKind(firmware)
    if kind is None and miner is not None:
        kind = firmware_of(miner)
        if kind is None:
            raise DriverError(f"{host}: {type(miner).__name__} is not a firmware fleetd drives")
    if kind is None:
        return IdentifyingDriver(host, timeouts=timeouts, clock=clock, settings=settings)
    if settings is not None and kind in settings and credentials is None and control is None:
        credentials, control = settings[kind]
    return BACKENDS[kind](host, timeouts=timeouts, clock=clock, miner=miner,
                          credentials=credentials, control=control)  # fmt: skip


class IdentifyingDriver:
    """A rig of a family not yet known: pyasic's factory identifies it on the first call,
    and the family's driver does the rest."""

    def __init__(
        self,
        host: str,
        *,
        timeouts: DriverTimeouts | None = None,
        clock: Clock = time.time,
        settings: Settings | None = None,
    ) -> None:
        self.host = host
        self.timeouts = timeouts or DriverTimeouts()
        self.clock = clock
        self.settings = settings
        self.inner: PyasicBackend | None = None

    @property
    def firmware(self) -> FirmwareKind | None:
        return None if self.inner is None else self.inner.family

    @property
    def capabilities(self) -> Capabilities:
        if self.inner is None:
            raise DriverError(f"{self.host}: firmware not identified yet (read it first)")
        return self.inner.capabilities

    async def identify(self) -> PyasicBackend:
        if self.inner is None:
            import pyasic

            found = await asyncio.wait_for(pyasic.get_miner(self.host), self.timeouts.probe_s)
            if found is None:
                raise DriverError(f"{self.host}: no miner answered pyasic's identification")
            self.inner = PyasicDriver(self.host, None, timeouts=self.timeouts, clock=self.clock,
                                      miner=found, settings=self.settings)  # fmt: skip
        return self.inner

    async def miner(self) -> Any:
        return await (await self.identify()).miner()

    async def read(self) -> RigReading:
        try:
            inner = await self.identify()
        except (TimeoutError, DriverError, OSError) as exc:
            return RigReading.unknown(self.host, str(exc) or "identification timed out",
                                      self.clock())  # fmt: skip
        return await inner.read()

    async def apply(self, target: Target) -> ApplyResult:
        try:
            inner = await self.identify()
        except (TimeoutError, DriverError, OSError) as exc:
            return ApplyResult(self.host, target, False, self.clock(), 0, 0.0,
                               str(exc) or "identification timed out")  # fmt: skip
        return await inner.apply(target)
