"""What a plan says, per rig and for the site."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Command(IntEnum):
    """What the controller must send a rig to carry out the plan."""

    KEEP = 0  # nothing to send
    SLEEP = 1  # curtail / sleep
    WAKE = 2  # wake up, then run at target_w / profile
    SET = 3  # stay up, change the power target or profile


@dataclass(frozen=True)
class Plan:
    """Per-rig targets (arrays of length n, in FleetState order) and site totals.

    command       int8    Command
    awake         bool    planned to be up (hashing or booting) after the plan
    target_w      float64 power target (W) for awake rigs, sleep watts for sleeping ones;
                          NaN for rigs not planned
    profile       int16   index into RigModel.profiles (LuxOS) or RigModel.modes (stock)
                          for awake rigs of that firmware; -1 otherwise
    power_w       float64 what each rig counts for in the plan (nameplate if not planned)
    hashrate_ths  float64 planned hashrate once running (0 asleep or not planned)
    planned       bool    False for unreachable, stale or unknown-model rigs
    ready_in_s    float64 seconds until the rig hashes at its target (boot time on WAKE)
    hold_broken   bool    woken or slept inside its hold time because the cap required it
    """

    command: np.ndarray
    awake: np.ndarray
    target_w: np.ndarray
    profile: np.ndarray
    power_w: np.ndarray
    hashrate_ths: np.ndarray
    planned: np.ndarray
    ready_in_s: np.ndarray
    hold_broken: np.ndarray
    budget_w: float  # the budget asked for
    limit_w: float  # what the plan was allowed to draw (budget after the ramp-up limit)
    current_w: float  # what the site counted for before this plan
    total_w: float  # sum of power_w
    total_ths: float  # sum of hashrate_ths
    unplanned_w: float  # rigs counted at nameplate without being planned
    infeasible: bool  # even with every plannable rig asleep the budget is exceeded
    ramp_limited: bool  # the ramp-up limit held the plan below the budget
    ramp_overridden: bool  # the cap fell faster than the ramp-down limit allows
    emergency: bool = False

    def __len__(self) -> int:
        return int(self.command.shape[0])

    def counts(self) -> dict[str, int]:
        """Commands by kind, for logs and metrics."""
        c = np.bincount(self.command.astype(np.intp), minlength=len(Command))
        return {cmd.name.lower(): int(c[cmd]) for cmd in Command}
