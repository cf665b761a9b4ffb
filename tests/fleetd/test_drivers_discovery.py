"""Discovery with pyasic over a loopback block of emulated rigs (never outside 127/8)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from fleetd.discovery import DiscoveryError, Progress, discover, hosts_of
from fleetd.drivers import FirmwareKind, PyasicDriver
from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from rigsim.runner import FleetRunner

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


async def test_discover_finds_each_rig_with_model_and_firmware() -> None:
    cfg = load_fleet_config(CONFIGS / "fleet-small.toml")
    # a free /28 block: rigs on .1 .. .9, the rest of the block silent
    base = free_loopback_base(16)
    net = ipaddress.IPv4Network(f"{base}/28", strict=False)
    cfg = rebase(cfg, str(net.network_address + 1))
    async with FleetRunner(Fleet(cfg)) as runner:
        fleet = runner.fleet
        assert all(ipaddress.IPv4Address(r.address) in net for r in fleet.rigs)
        assert net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))
        fleet.update_faults(fleet.rigs[2].index, unreachable="refuse")
        seen: list[Progress] = []
        found = await discover(str(net), concurrency=4, timeout_s=5, progress=seen.append)
        assert [p.done for p in seen] == list(range(1, 15))  # every host of the /28, once
        assert seen[-1].total == 14 and seen[-1].found == len(found)
        expected = [r for r in fleet.rigs if r is not fleet.rigs[2]]
        assert [f.host for f in found] == [r.address for r in expected]
        for f, rig in zip(found, expected, strict=True):
            assert f.kind == FirmwareKind.LUXOS and f.firmware == "LuxOS"
            assert f.pyasic_class == rig.model.pyasic_class
        # what discovery found is ready to drive
        d = PyasicDriver(found[0].host, firmware=None, miner=found[0].miner)
        reading = await d.read()
        assert reading.ok and reading.model == expected[0].model.luxos_type


def test_hosts_of_and_bad_networks() -> None:
    assert hosts_of("127.9.0.0/30") == ["127.9.0.1", "127.9.0.2"]
    assert hosts_of("127.9.0.7") == ["127.9.0.7"]
    with pytest.raises(DiscoveryError, match="expected an IPv4 network"):
        hosts_of("10.0.0.0/33")
    with pytest.raises(DiscoveryError, match="at most 65536 per scan"):
        hosts_of("10.0.0.0/8")
