"""A small fleet of one firmware family's rigs under a FakeClock, served over TCP, for the
per-family tests that drive rigsim through the real pyasic.

The clock moves only when a test says so: a test checks what the draw is right after a
command, advances simulated time past the firmware's timing and checks again, so the
rig models keep their real timings (seconds to minutes) and the tests stay fast. Waiting
on the network side (a listener reopening on the next tick) is a condition with a
deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pyasic
import pytest

from rigsim.addresses import free_loopback_base
from rigsim.clock import FakeClock
from rigsim.config import parse_fleet_config
from rigsim.fleet import Fleet, Rig
from rigsim.runner import FleetRunner
from tests.components.require import component_missing
from tests.waiting import wait_for


async def start_fleet(
    groups: list[dict[str, Any]], clock: FakeClock, **sections: dict[str, Any]
) -> FleetRunner:
    """Serve `groups` (model, count, firmware, ...) on a free loopback block."""
    first = int(ipaddress.IPv4Address(free_loopback_base(sum(g["count"] for g in groups))))
    rigs = []
    for g in groups:
        rigs.append({"site": "s", "addresses": str(ipaddress.IPv4Address(first)), **g})
        first += g["count"]
    cfg = parse_fleet_config(
        {"fleet": {"tick_s": 0.02}, "sites": {"s": {"ambient_c": 25}}, "rigs": rigs, **sections}
    )
    runner = FleetRunner(Fleet(cfg, clock=clock))
    try:
        await runner.start()
    except PermissionError as exc:
        component_missing(
            f"{exc}: the stock Antminer web interface listens on port 80, which needs root, "
            "CAP_NET_BIND_SERVICE or sysctl net.ipv4.ip_unprivileged_port_start=80"
        )
    return runner


Site = tuple[FleetRunner, FakeClock]


@contextlib.asynccontextmanager
async def site(groups: list[dict[str, Any]]) -> AsyncIterator[Site]:
    """A served fleet of `groups` under a fresh FakeClock, stopped afterwards."""
    clock = FakeClock()
    runner = await start_fleet(groups, clock)
    try:
        yield runner, clock
    finally:
        await runner.stop()


def served(*groups: dict[str, Any]) -> Any:
    """A pytest fixture: `groups` served under a fresh FakeClock (`site`), per test."""

    @pytest.fixture
    async def fixture() -> AsyncIterator[Site]:
        async with site(list(groups)) as running:
            yield running

    return fixture


async def first_rig(running: Site) -> tuple[FleetRunner, FakeClock, Rig, Any]:
    """The served fleet's first rig and pyasic's miner for it (what most tests drive)."""
    runner, clock = running
    rig = runner.fleet.rigs[0]
    return runner, clock, rig, await pyasic.get_miner(rig.address)


async def wait_until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for a condition the runner's next ticks bring about (a listener reopening)."""
    await wait_for(cond, timeout, what)


def refused(address: str, port: int) -> bool:
    """Nothing listens on address:port: a connection is refused."""
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            return True
    return False


def settle(runner: FleetRunner, clock: FakeClock, rig: Rig, seconds: float) -> None:
    """Move simulated time on and bring the rig to it."""
    clock.advance(seconds)
    runner.fleet.touch(rig.index)
