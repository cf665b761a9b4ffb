"""Per-site figures the controller keeps for metrics, the API and the compliance samples.

Plain attributes, updated in place, so a Prometheus collector (or anything else) reads
them without knowing the controller. Energy in joules, power in watts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Interval:
    """What accumulated since the last sample was written (one compliance sample); the
    power figures come from fleetd.compliance."""

    t0: float
    commands: Counter[str] = field(default_factory=Counter)


@dataclass
class SiteStats:
    site: str
    # compliance: time and energy above the allotment (measured, else estimated power)
    above_cap_s: float = 0.0  # above the allotment in force (fleetd.compliance)
    above_cap_j: float = 0.0
    above_floor_s: float = 0.0  # above fleetd's stale-feed floor while it bound
    above_floor_j: float = 0.0
    energy_j: float = 0.0
    # latest figures
    allotment_w: float = 0.0
    allotment_reason: str = ""
    allotment_change_id: str = ""
    allotment_stale: bool = False
    budget_w: float = 0.0  # what the planner gave the rigs
    wake_budget_w: float = 0.0
    firm_w: float = 0.0
    site_w: float = 0.0  # measured (meter) or estimated site draw
    site_w_source: str = "estimate"  # "meter" | "estimate"
    estimated_site_w: float = 0.0
    meter_factor: float = 1.0  # learned from the meter, or the configured figure
    planned_w: float = 0.0  # the plan's total for the rigs
    planned_ths: float = 0.0
    hashrate_ths: float = 0.0  # sum of what fresh rigs report
    rigs_total: int = 0
    rigs_by_state: dict[str, int] = field(default_factory=dict)
    rigs_unreachable: int = 0
    # rigs refusing the configured credentials (counted at nameplate), some of their hosts
    rigs_credentials_refused: int = 0
    credentials_refused: list[str] = field(default_factory=list)
    emergency: bool = False
    infeasible: bool = False
    # control loop
    cycles: int = 0
    replans_triggered: int = 0
    last_cycle_s: float = 0.0
    max_cycle_s: float = 0.0
    last_read_s: float = 0.0
    last_plan_s: float = 0.0
    last_send_s: float = 0.0
    last_cycle_at: float = 0.0
    last_commands_done_at: float = 0.0  # when the last fan-out had every answer
    commands: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, ok|failed)
    drift_resleeps: int = 0
    retries: int = 0
    raises_held: int = 0  # raises and wakes held back while sheds were still ramping down

    @property
    def above_cap_kwh(self) -> float:
        return self.above_cap_j / 3.6e6

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6

    def commands_by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (kind, result), n in self.commands.items():
            out.setdefault(kind, {})[result] = n
        return out
