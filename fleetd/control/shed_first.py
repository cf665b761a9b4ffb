"""Rigs to shed before any other (the coordinator's flagged rigs: they draw power but
the licensed pool credits them far less than they claim; coordinator.verify).

The planner orders rigs by efficiency; this rule sits outside it: when a plan leaves a
runnable rig that is not listed asleep while a listed one is awake, the site is planned
again with the listed rigs held asleep (a thermal cap of 0 W), so no listed rig draws
while another rig is held back (asleep, or run below its highest point) for want of
allotment. When the allotment lets every rig
run, listed rigs run too: they are shed first, not banned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from fleetd.models import Firmware, ModelCatalog
from fleetd.planner.fleet import FleetState
from fleetd.planner.plan import Plan


def listed_mask(names: Sequence[str], hosts: Sequence[str], listed: frozenset[str]) -> np.ndarray:
    """Which rigs are listed, by their name in the config or their address."""
    return np.array([n in listed or h in listed for n, h in zip(names, hosts, strict=True)],
                    dtype=bool)  # fmt: skip


def top_watts(fleet: FleetState, catalog: ModelCatalog) -> np.ndarray:
    """Each rig's highest point (W) for its model and firmware; NaN for an unknown model."""
    known = fleet.model >= 0
    table = np.where(known, fleet.model, 0).astype(np.intp) * len(Firmware)
    table += fleet.firmware.astype(np.intp)
    return np.where(known, catalog.tables.watts[table, -1], np.nan)


def shed_first(
    p: Plan,
    fleet: FleetState,
    listed: np.ndarray,
    replan: Callable[[FleetState], Plan],
    catalog: ModelCatalog,
) -> Plan:
    """`p`, or the plan again with the listed rigs held asleep when `p` holds back a
    runnable rig that is not listed (asleep, or below its highest point) while a listed
    one is awake."""
    if not listed.any() or not (p.awake & listed).any():
        return p
    top = np.fmin(top_watts(fleet, catalog), fleet.cap_w)
    below = ~p.awake | (p.target_w < top - 1.0)
    held_back = p.planned & ~listed & (fleet.cap_w > 0) & below
    if not held_back.any():
        return p
    cap = np.where(listed, 0.0, fleet.cap_w)
    return replan(replace(fleet, cap_w=cap))
