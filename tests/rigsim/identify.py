"""What pyasic's factory makes of a served rig: the check every firmware family's tests
begin with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyasic
from pyasic.device.firmware import MinerFirmware
from pyasic.device.makes import MinerMake

from tests.rigsim.firmware_fleet import Site


async def identified(running: Site, backend: type, firmware: MinerFirmware,
                     classes: Sequence[str], make: MinerMake = MinerMake.ANTMINER) -> list[Any]:
    """pyasic's factory takes each rig, in order, for the class named in `classes` (a
    subclass of `backend`), of this firmware and make; its miners."""
    runner, _ = running
    miners = [await pyasic.get_miner(rig.address) for rig in runner.fleet.rigs]
    for miner, cls in zip(miners, classes, strict=True):
        assert isinstance(miner, backend) and type(miner).__name__ == cls
        assert miner.firmware == firmware and miner.make == make
    return miners
