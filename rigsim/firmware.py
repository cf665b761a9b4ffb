"""Firmware families: each rig's settings that are not physics, and which API answers it.

A rig runs one of four families, chosen per rig group in the fleet file (`firmware`):
  luxos       LuxOS: cgminer-style API on 4028 with sessions and profiles (rigsim.luxos)
  braiins     Braiins OS+: the gRPC public API on 50051 (rigsim.braiins) and bosminer's
              cgminer-style API on 4028 (rigsim.bosminer)
  antminer    stock Bitmain firmware: bmminer's API on 4028 (rigsim.bmminer) and the web
              CGI on 80 with digest auth (rigsim.antminer_web)
  whatsminer  btminer's API on 4028, privileged commands encrypted (rigsim.btminer), and
              on newer firmware the framed API v3 on 4433 (rigsim.btminer_v3)
`FirmwareSettings` (rigsim.rig) holds what a rig's firmware remembers (a power target, a
work mode, login tokens); `FirmwareApis` holds one handler per family and picks the rig's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rigsim.luxos import LuxosHandler
from rigsim.rig import ANTMINER, BRAIINS, LUXOS

if TYPE_CHECKING:
    from rigsim.antminer_web import AntminerWeb
    from rigsim.bmminer import BmminerApi
    from rigsim.bosminer import BosminerApi
    from rigsim.braiins import BraiinsApi
    from rigsim.btminer import BtminerApi
    from rigsim.btminer_v3 import BtminerV3Api
    from rigsim.cgminer import CgminerApi
    from rigsim.rig import FleetView

T = TypeVar("T")


class Handler(Generic[T]):
    """A family's API handler for the fleet: its module imported and the handler built on
    first use, then kept on the instance (a LuxOS fleet never imports the others)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, apis: FirmwareApis, owner: type | None = None) -> T:
        handler: T = getattr(importlib.import_module(self.module), self.name)(apis.fleet)
        apis.__dict__[self.attr] = handler  # found before this descriptor from now on
        return handler


class FirmwareApis:
    """One API handler per family, built on first use (a LuxOS fleet never imports the
    others' dependencies); `rpc(i)` is the handler that answers rig i on port 4028."""

    def __init__(self, fleet: FleetView) -> None:
        self.fleet = fleet
        self.luxos = LuxosHandler(fleet)

    bosminer: Handler[BosminerApi] = Handler("rigsim.bosminer", "BosminerApi")
    braiins: Handler[BraiinsApi] = Handler("rigsim.braiins", "BraiinsApi")
    bmminer: Handler[BmminerApi] = Handler("rigsim.bmminer", "BmminerApi")
    antminer_web: Handler[AntminerWeb] = Handler("rigsim.antminer_web", "AntminerWeb")
    btminer: Handler[BtminerApi] = Handler("rigsim.btminer", "BtminerApi")
    btminer_v3: Handler[BtminerV3Api] = Handler("rigsim.btminer_v3", "BtminerV3Api")

    def rpc(self, i: int) -> CgminerApi:
        family = self.fleet.rigs[i].firmware
        if family == LUXOS:
            return self.luxos
        if family == BRAIINS:
            return self.bosminer
        if family == ANTMINER:
            return self.bmminer
        return self.btminer

    def call(
        self, i: int, request: dict[str, Any] | str, session_now: float | None = None
    ) -> dict[str, Any]:
        """Rig i's reply on port 4028, without a socket."""
        return self.rpc(i).handle(i, request, session_now)
