"""configs/fleet-mixed.toml: a site of every firmware family, a few hundred rigs, served
from one process and identified and read by the real pyasic 0.79."""

from __future__ import annotations

import asyncio
import random
import warnings
from collections import Counter
from pathlib import Path

import pyasic
import pytest
from pyasic.device.firmware import MinerFirmware

from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from rigsim.runner import FleetRunner
from tests.components.require import component_missing

pytestmark = pytest.mark.integration

MIXED = Path(__file__).resolve().parents[2] / "configs" / "fleet-mixed.toml"
FIRMWARE = {
    "luxos": MinerFirmware.LUXOS,
    "braiins": MinerFirmware.BRAIINS_OS,
    "antminer": MinerFirmware.STOCK,
    "whatsminer": MinerFirmware.STOCK,
}


def test_the_mixed_site_has_every_family_with_several_models() -> None:
    cfg = load_fleet_config(MIXED)
    assert 200 <= cfg.total_rigs <= 1000 and set(cfg.sites) == {"mixed"}
    models = Counter(g.firmware for g in cfg.rigs)
    assert set(models) == set(FIRMWARE) and all(n >= 2 for n in models.values())
    assert {g.whatsminer_api for g in cfg.rigs if g.firmware == "whatsminer"} == {"v2", "v3"}


@pytest.mark.slow
async def test_one_process_serves_the_whole_mixed_site_to_pyasic() -> None:
    cfg = load_fleet_config(MIXED)
    cfg = rebase(cfg, free_loopback_base(cfg.total_rigs))
    runner = FleetRunner(Fleet(cfg))
    try:
        await runner.start()
    except PermissionError as exc:
        component_missing(f"{exc}: stock Antminers serve port 80 (root or CAP_NET_BIND_SERVICE)")
    try:
        fleet = runner.fleet
        assert runner.api is not None and runner.api.listening == cfg.total_rigs
        by_family: dict[str, list] = {}
        for rig in fleet.rigs:
            by_family.setdefault(rig.firmware, []).append(rig)
        rng = random.Random(3)
        sample = [r for rigs in by_family.values() for r in rng.sample(rigs, 4)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyasic warns of models it half knows
            miners = await asyncio.gather(*(pyasic.get_miner(r.address) for r in sample))
        for rig, miner in zip(sample, miners, strict=True):
            assert miner is not None, rig
            assert miner.firmware == FIRMWARE[rig.firmware], rig
            assert type(miner).__name__ == rig.model.pyasic_class_for(rig.firmware), rig
        awake = [(r, m) for r, m in zip(sample, miners, strict=True) if r.is_hashing]
        datas = await asyncio.gather(*(m.get_data() for _, m in awake))
        for (rig, _), data in zip(awake, datas, strict=True):
            if rig.model.pyasic_class_for(rig.firmware) != "LUXMiner":
                assert float(data.hashrate) == pytest.approx(rig.hashrate_ths, rel=1e-3), rig
    finally:
        await runner.stop()
