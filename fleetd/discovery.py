"""Find rigs on a network with pyasic: what answers, its model and firmware.

`discover("10.0.0.0/24")` asks pyasic's factory (`get_miner`) about every host of the
block, at most `concurrency` at a time and each within `timeout_s`, and reports progress
through a callback (the CLI draws a progress bar with it). Hosts that refuse, time out or
run something pyasic does not know are counted, not listed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pyasic

from fleetd.drivers.capabilities import FirmwareKind, firmware_of
from fleetd.drivers.control import Control, Granularity

MAX_HOSTS = 65_536


class DiscoveryError(ValueError):
    """The network to scan is unusable (named)."""


@dataclass(frozen=True, slots=True)
class Found:
    host: str
    model: str | None  # as pyasic reports it, e.g. "S19j Pro"
    make: str | None
    firmware: str | None  # pyasic's firmware name, e.g. "LuxOS"
    kind: FirmwareKind | None  # what fleetd drives it as; None = not drivable
    pyasic_class: str
    miner: Any  # the pyasic miner object, ready to use


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    found: int
    last: str  # the host just finished


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


def granularity_of(kind: FirmwareKind | None) -> str:
    """How fleetd controls a rig of this family (for people: `surplus fleetd discover`)."""
    if kind is None:
        return "-"
    if kind == FirmwareKind.WHATSMINER:
        return (f"{Granularity.PERCENT.describe} or "
                f"{Granularity.LIMIT.describe}")  # fmt: skip
    return Control.default(kind).granularity.describe


def hosts_of(cidr: str, max_hosts: int = MAX_HOSTS) -> list[str]:
    """The host addresses of an IPv4 block (a single address is a /32)."""
    try:
        net = ipaddress.IPv4Network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise DiscoveryError(
            f"{cidr!r}: expected an IPv4 network such as 10.0.0.0/24 ({exc})"
        ) from None
    if net.num_addresses > max_hosts:
        raise DiscoveryError(
            f"{cidr}: {net.num_addresses} addresses; at most {max_hosts} per scan"
        )
    return [str(h) for h in net.hosts()] if net.prefixlen < 31 else [str(a) for a in net]


async def _probe(host: str, timeout_s: float) -> Found | None:
    try:
        miner = await asyncio.wait_for(pyasic.get_miner(host), timeout_s)
    except Exception:  # timeouts, refusals, and pyasic's assorted errors on odd replies
        return None
    if miner is None:
        return None
    fw = getattr(miner, "firmware", None)
    make = getattr(miner, "make", None)
    return Found(
        host=host, model=getattr(miner, "raw_model", None) or getattr(miner, "model", None),
        make=None if make is None else str(make), firmware=None if fw is None else str(fw),
        kind=firmware_of(miner), pyasic_class=type(miner).__name__, miner=miner,
    )  # fmt: skip


async def discover(
    cidr: str,
    *,
    concurrency: int = 128,
    timeout_s: float = 5.0,
    progress: ProgressCallback | None = None,
) -> list[Found]:
    """Every miner pyasic identifies in `cidr`, sorted by address."""
    if concurrency < 1:
        raise DiscoveryError(f"concurrency must be >= 1, got {concurrency}")
    hosts = hosts_of(cidr)
    sem = asyncio.Semaphore(concurrency)
    found: list[Found] = []
    done = 0

    async def one(host: str) -> None:
        nonlocal done
        async with sem:
            hit = await _probe(host, timeout_s)
        done += 1
        if hit is not None:
            found.append(hit)
        if progress is not None:
            maybe = progress(Progress(done, len(hosts), len(found), host))
            if maybe is not None:
                await maybe

    # one filter for the whole scan: per-probe catch_warnings would interleave and leak
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Partially supported miner")
        await asyncio.gather(*(one(h) for h in hosts))
    return sorted(found, key=lambda f: ipaddress.IPv4Address(f.host))
