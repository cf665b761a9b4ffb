"""Rig drivers: one interface (read telemetry, apply a target), backed by pyasic, one
backend module per firmware family over a shared base (fleetd.drivers.backend):
luxminer (LuxOS), braiins_os (Braiins OS+), antminer (stock), btminer (Whatsminer).

    PyasicDriver(host, "luxos")       .read() -> RigReading   .apply(Target) -> ApplyResult
    driver.control                    Control: granularity and response time
    Target.sleep() / .wake(profile=, watts=) / .use_profile(name) / .limit_watts(W)
    Fanout(concurrency).read_all(drivers, deadline_s, on_reading=...)   (commands: the
    controller's dispatcher, fleetd.control.dispatch)
    capabilities("braiins")           what a firmware family accepts
"""

from fleetd.drivers.antminer import AntminerDriver
from fleetd.drivers.backend import CREDENTIALS_REFUSED, Credentials, PyasicBackend
from fleetd.drivers.base import (
    ApplyResult,
    Driver,
    DriverError,
    DriverTimeouts,
    RigReading,
    Target,
    TargetKind,
)
from fleetd.drivers.braiins_os import BraiinsDriver
from fleetd.drivers.btminer import WhatsminerDriver
from fleetd.drivers.capabilities import (
    CAPABILITIES,
    Capabilities,
    FirmwareKind,
    capabilities,
    firmware_of,
)
from fleetd.drivers.control import Control, Granularity
from fleetd.drivers.fanout import Fanout
from fleetd.drivers.luxminer import LuxosDriver
from fleetd.drivers.luxos import Profile, parse_profiles, parse_telemetry, pick_profile
from fleetd.drivers.pyasic_driver import BACKENDS, IdentifyingDriver, PyasicDriver

__all__ = [
    "BACKENDS",
    "CAPABILITIES",
    "CREDENTIALS_REFUSED",
    "AntminerDriver",
    "ApplyResult",
    "BraiinsDriver",
    "Capabilities",
    "Control",
    "Credentials",
    "Driver",
    "DriverError",
    "DriverTimeouts",
    "Fanout",
    "FirmwareKind",
    "Granularity",
    "IdentifyingDriver",
    "LuxosDriver",
    "Profile",
    "PyasicBackend",
    "PyasicDriver",
    "RigReading",
    "Target",
    "TargetKind",
    "WhatsminerDriver",
    "capabilities",
    "firmware_of",
    "parse_profiles",
    "parse_telemetry",
    "pick_profile",
]
