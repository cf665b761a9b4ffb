"""Pure, vectorised planner: per-rig sleep / profile / watt targets under a power budget.

plan(fleet, budget_w, catalog=..., config=..., dt_s=..., wake_budget_w=...) -> Plan
emergency_plan(fleet, catalog=..., config=...) -> Plan
advance(fleet, command, target_w, elapsed_s) -> FleetState   (simulations and tests)
"""

from fleetd.planner.config import DEFAULT_CONFIG, PlannerConfig
from fleetd.planner.core import PlanError, emergency_plan, plan
from fleetd.planner.fleet import AWAKE_STATES, FleetState, FleetStateError, RigState, advance
from fleetd.planner.plan import Command, Plan

__all__ = [
    "AWAKE_STATES",
    "DEFAULT_CONFIG",
    "Command",
    "FleetState",
    "FleetStateError",
    "Plan",
    "PlanError",
    "PlannerConfig",
    "RigState",
    "advance",
    "emergency_plan",
    "plan",
]
