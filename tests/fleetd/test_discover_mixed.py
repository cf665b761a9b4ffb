"""`surplus fleetd discover` over a mixed rigsim range: every firmware family found, each
line with make, model, firmware and how fleetd controls it. rigsim runs as a process (as
an operator runs it) and discover as the command an operator types."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from pathlib import Path

import pytest

from tests.fleetd.site_procs import Group, SiteProcesses, SiteSpec

pytestmark = pytest.mark.integration

MIXED = SiteSpec(
    groups=(
        Group("S21", 1, firmware="luxos"),
        Group("S19XP", 1, firmware="braiins"),
        Group("S19jPro", 1, firmware="antminer"),
        Group("M50", 1, firmware="whatsminer"),
        Group("M60", 1, firmware="whatsminer", whatsminer_api="v3"),
    ),
    allotment_mw=1.0,
)

EXPECTED = {  # group -> (make, model, firmware, fleetd family, control)
    0: ("AntMiner", "S21", "LuxOS", "luxos", "discrete profiles"),
    1: ("AntMiner", "S19 XP", "BOS+", "braiins", "continuous watt target (with a minimum)"),
    2: ("AntMiner", "S19j Pro", "Stock", "stock", "normal / low-power / sleep"),
    3: ("WhatsMiner", "M50 VH50", "Stock", "whatsminer", "power percentage (1 % steps) or"),
    4: ("WhatsMiner", "M60 VK10", "Stock", "whatsminer", "power percentage (1 % steps) or"),
}


def _cidr(first: str, last: str) -> str:
    """The smallest IPv4 block holding both addresses."""
    a, b = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
    prefix = 32
    while (a >> (32 - prefix)) != (b >> (32 - prefix)):
        prefix -= 1
    return str(ipaddress.IPv4Network((a, prefix), strict=False))


async def test_discover_lists_every_family_with_make_model_firmware_and_control(
    tmp_path: Path,
) -> None:
    async with SiteProcesses(MIXED, tmp_path, start_fleetd=False) as site:
        rigs = site.fleet.rigs
        cidr = _cidr(rigs[0].address, rigs[-1].address)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "surplus.cli", "fleetd", "discover", cidr,
            "--timeout", "10", "--concurrency", "32",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()
    text = out.decode().splitlines()
    header = next(ln for ln in text if ln.startswith("host"))
    assert header.split() == ["host", "make", "model", "firmware", "fleetd", "control"]
    lines = {ln.split()[0]: ln for ln in text if ln.startswith("127.")}
    for k, rig in enumerate(rigs):
        line = lines.get(rig.address)
        assert line is not None, f"{rig.address} ({rig.firmware}) not found:\n{out.decode()}"
        for field in EXPECTED[k]:
            assert field in line, f"{field!r} missing from {line!r}"
