"""What pyasic makes of a served rig: the checks every firmware family's tests begin with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyasic
import pytest
from pyasic.device.firmware import MinerFirmware
from pyasic.device.makes import MinerMake

from rigsim.fleet import Rig
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


async def read_healthy(rig: Rig, ths: float, chips: int) -> tuple[Any, Any]:
    """pyasic's get_data for a healthy rig of three boards of `chips` chips hashing `ths`
    (TH/s), checked against the rig's physics; that data and the rig's reading."""
    data = await (await pyasic.get_miner(rig.address)).get_data()
    r = rig.reading()
    assert float(data.hashrate) == pytest.approx(r.ths, rel=1e-4) == pytest.approx(ths)
    assert float(data.expected_hashrate) == pytest.approx(ths)
    assert [hb.chips for hb in data.hashboards] == [chips] * 3
    assert sum(float(hb.hashrate) for hb in data.hashboards) == pytest.approx(ths, rel=1e-4)
    assert all(r.ambient_c < hb.temp < hb.chip_temp for hb in data.hashboards)
    assert data.uptime == pytest.approx(r.process_uptime_s, abs=2)
    return data, r
