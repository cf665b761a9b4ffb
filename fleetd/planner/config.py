"""Planner settings: hold times, hysteresis and ramp limits (validated, TOML-friendly)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

W_PER_MW_PER_MIN = 1e6 / 60.0  # 1 MW/min in W/s


class PlannerConfig(BaseModel):
    """How cautiously the planner moves rigs.

    Hold times stop a rig from flapping: a rig that woke stays up `min_awake_s`, one that
    went to sleep stays down `min_asleep_s`, unless the site cap can only be met by
    breaking the hold (the cap always wins). `hysteresis` makes an awake rig look that much
    more efficient than a sleeping one, so small changes in readings do not swap rigs.
    Ramp limits (MW/min, None = none) are what grid operators ask for; upward they bound
    each plan, downward they set how early a scheduled drop is pre-shed (see
    fleetd.budget.effective_allotment_w): a cut of the cap itself is always obeyed at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_awake_s: float = Field(600.0, ge=0)
    min_asleep_s: float = Field(300.0, ge=0)
    hysteresis: float = Field(0.02, ge=0, lt=1)
    ramp_up_mw_per_min: float | None = Field(None, gt=0)
    ramp_down_mw_per_min: float | None = Field(None, gt=0)
    period_s: float = Field(10.0, gt=0, description="default time between plans (s)")
    residual_rounds: int = Field(32, ge=0, le=1000)

    @property
    def ramp_up_w_per_s(self) -> float:
        r = self.ramp_up_mw_per_min
        return math.inf if r is None else r * W_PER_MW_PER_MIN

    @property
    def ramp_down_w_per_s(self) -> float:
        r = self.ramp_down_mw_per_min
        return math.inf if r is None else r * W_PER_MW_PER_MIN


DEFAULT_CONFIG = PlannerConfig()
