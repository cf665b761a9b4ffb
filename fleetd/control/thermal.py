"""Thermal caps: turn a hot rig down before its firmware does it less efficiently (pure).

A rig that runs hot is derated by its own firmware (a lower clock at the same profile,
paid for at the profile's watts in the plan) or, hotter still, shuts its boards down.
fleetd caps such a rig one step below what it runs, so the planner spends those watts
on a cooler rig instead; an overheated rig is capped to 0 W (slept) until it cools.
A cap is lifted a step at a time, and only after the rig has stayed cool for
`relax_after_s`, so a rig does not swing between a hot and a cool profile every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetd.planner import RigState


@dataclass(frozen=True)
class ThermalPolicy:
    hot_c: float = 80.0  # at or above: cap one step below the current draw
    cool_c: float = 72.0  # below this for relax_after_s: lift the cap a step
    step_frac: float = 0.08  # a step, as a share of the model's nameplate watts
    relax_after_s: float = 60.0
    settle_s: float = 30.0  # after a change, wait this long (the chips' time constant) to judge it

    def __post_init__(self) -> None:
        if not self.cool_c < self.hot_c:
            raise ValueError(f"thermal: cool_c ({self.cool_c}) must be below hot_c ({self.hot_c})")
        if not 0 < self.step_frac < 1:
            raise ValueError(f"thermal: step_frac must be in (0, 1), got {self.step_frac}")


class ThermalCaps:
    """Per-rig caps (W, +inf = none), updated from each read cycle."""

    def __init__(self, nameplate_w: np.ndarray, max_w: np.ndarray, policy: ThermalPolicy) -> None:
        self.policy = policy
        self.nameplate_w = np.asarray(nameplate_w, dtype=float)
        self.max_w = np.asarray(max_w, dtype=float)
        n = self.nameplate_w.shape[0]
        self.cap_w = np.full(n, np.inf)
        self.changed_at = np.full(n, -np.inf)

    def update(
        self,
        now: float,
        *,
        fresh: np.ndarray,
        state: np.ndarray,
        temp_c: np.ndarray,
        running_w: np.ndarray,
    ) -> np.ndarray:
        """New caps from temperatures and states; returns the rigs whose cap changed."""
        p = self.policy
        step = p.step_frac * self.nameplate_w
        temp = np.where(fresh, temp_c, np.nan)
        overheated = fresh & (state == RigState.DERATED)
        settled = now - self.changed_at >= p.settle_s
        hot = fresh & ~overheated & (temp >= p.hot_c) & (state == RigState.HASHING) & settled
        old = self.cap_w.copy()
        base = np.fmin(self.cap_w, np.where(np.isnan(running_w), self.max_w, running_w))
        self.cap_w = np.where(hot, np.maximum(base - step, 0.0), self.cap_w)
        self.cap_w[overheated] = 0.0
        cool = fresh & (temp < p.cool_c) & np.isfinite(self.cap_w)
        cool |= fresh & (state == RigState.SLEEPING) & np.isfinite(self.cap_w)
        relax = cool & (now - self.changed_at >= p.relax_after_s)
        lifted = self.cap_w + step
        lifted = np.where(self.cap_w == 0.0, np.maximum(lifted, 0.5 * self.nameplate_w), lifted)
        self.cap_w = np.where(relax, np.where(lifted >= self.max_w, np.inf, lifted), self.cap_w)
        changed = ~((old == self.cap_w) | (np.isinf(old) & np.isinf(self.cap_w)))
        self.changed_at[changed] = now
        return np.flatnonzero(changed)
