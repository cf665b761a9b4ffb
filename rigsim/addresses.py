"""Loopback address blocks for fleets: find a free one, lay a fleet's groups out in it.

Several fleets may run on one machine at once (tests of different areas in parallel),
so a test asks for a block nobody listens on instead of using the demo's 127.1/127.2.
"""

from __future__ import annotations

import ipaddress
import random
import socket

from rigsim.config import FleetConfig

_FIRST_OCTET2 = 100  # random blocks come from 127.100.0.0 - 127.249.255.255


def _can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def free_loopback_base(
    count: int, port: int = 4028, tries: int = 50, rng: random.Random | None = None
) -> str:
    """First address of `count` consecutive loopback addresses whose `port` is free."""
    rng = rng or random.Random()
    for _ in range(tries):
        first = int(ipaddress.IPv4Address(f"127.{rng.randrange(_FIRST_OCTET2, 250)}.0.1"))
        first += rng.randrange(0, 200) * 256
        probe = {first, first + count - 1, first + count // 2}
        if all(_can_bind(str(ipaddress.IPv4Address(a)), port) for a in probe):
            return str(ipaddress.IPv4Address(first))
    raise OSError(f"no free block of {count} loopback addresses with port {port} free")


def rebase(config: FleetConfig, first: str) -> FleetConfig:
    """A copy of `config` whose rig groups sit back to back from address `first`."""
    start = int(ipaddress.IPv4Address(first))
    groups = []
    for g in config.rigs:
        groups.append(g.model_copy(update={"addresses": str(ipaddress.IPv4Address(start))}))
        start += g.count
    return config.model_copy(update={"rigs": groups})
