"""The fleet as the planner sees it: one numpy array per rig attribute (struct of arrays).

Arrays, not objects, because a site of 600,000 rigs must be planned in well under a
second; every field has one entry per rig, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from fleetd.models import Firmware


class FleetStateError(ValueError):
    """A fleet state array is malformed (the message names the field)."""


class RigState(IntEnum):
    """What the controller last learnt about a rig."""

    HASHING = 0
    SLEEPING = 1
    BOOTING = 2  # woken, not hashing yet; counts at its target power already
    UNREACHABLE = 3  # not planned; counts at nameplate
    DERATED = 4  # hashing, held back by heat; its cap_w applies


AWAKE_STATES = (RigState.HASHING, RigState.BOOTING, RigState.DERATED)


@dataclass(frozen=True)
class FleetState:
    """Per-rig planner inputs; every array has length n (the number of rigs).

    model      int32   position in the ModelCatalog; -1 = unknown model (not planned)
    firmware   int8    Firmware: 0 continuous watts, 1 LuxOS profiles, 2 stock modes
    state      int8    RigState
    target_w   float64 current power target (W; a profile's or mode's watts); NaN = unknown
    reported_w float64 last reported power (W); NaN = none. Only an unplanned rig's count
                       uses it: `state` must already say what a rig is really doing (a rig
                       told to sleep that still draws full power is HASHING)
    stale      bool    the last reading is too old to trust (not planned, counts at nameplate)
    cap_w      float64 thermal derating cap (W); +inf = none
    since_s    float64 seconds since the rig last went to sleep or woke; +inf = long ago
    boot_s     float64 seconds a wake takes before hashing; NaN = the model's figure
    counted_w  float64 what a rig that is not planned counts for instead of the safety
                       rule (the highest of nameplate, last target and last reading), e.g.
                       its share of the site meter before its first reading; NaN = the rule
    response_s float64 seconds after a command's answer before the rig's draw has fallen
                       to a lower target (fleetd.drivers.control); 0 = at once. A plan
                       counts no reduction before it, and on a cut sheds the fastest first
    """

    model: np.ndarray
    firmware: np.ndarray
    state: np.ndarray
    target_w: np.ndarray
    reported_w: np.ndarray
    stale: np.ndarray
    cap_w: np.ndarray
    since_s: np.ndarray
    boot_s: np.ndarray
    counted_w: np.ndarray
    response_s: np.ndarray

    def __len__(self) -> int:
        return int(self.model.shape[0])

    @classmethod
    def create(
        cls,
        model: np.ndarray | list[int],
        *,
        firmware: np.ndarray | list[int] | int = Firmware.CONTINUOUS,
        state: np.ndarray | list[int] | int = RigState.SLEEPING,
        target_w: np.ndarray | list[float] | float = np.nan,
        reported_w: np.ndarray | list[float] | float = np.nan,
        stale: np.ndarray | list[bool] | bool = False,
        cap_w: np.ndarray | list[float] | float = np.inf,
        since_s: np.ndarray | list[float] | float = np.inf,
        boot_s: np.ndarray | list[float] | float = np.nan,
        counted_w: np.ndarray | list[float] | float = np.nan,
        response_s: np.ndarray | list[float] | float = 0.0,
    ) -> FleetState:
        """Build a validated state; scalars are broadcast to every rig."""
        m = np.asarray(model)
        if m.ndim != 1:
            raise FleetStateError(f"model: expected a 1-D array of model ids, got shape {m.shape}")
        n = m.shape[0]

        def arr(name: str, value: object, dtype: type) -> np.ndarray:
            a = np.asarray(value)
            if a.ndim == 0:
                return np.full(n, a, dtype=dtype)
            if a.shape != (n,):
                raise FleetStateError(f"{name}: expected shape ({n},), got {a.shape}")
            return a.astype(dtype, copy=False)

        if m.size and not np.issubdtype(m.dtype, np.integer):
            raise FleetStateError(f"model: expected integer model ids, got dtype {m.dtype}")
        return cls(
            model=m.astype(np.int32, copy=False),
            firmware=arr("firmware", firmware, np.int8),
            state=arr("state", state, np.int8),
            target_w=arr("target_w", target_w, np.float64),
            reported_w=arr("reported_w", reported_w, np.float64),
            stale=arr("stale", stale, np.bool_),
            cap_w=arr("cap_w", cap_w, np.float64),
            since_s=arr("since_s", since_s, np.float64),
            boot_s=arr("boot_s", boot_s, np.float64),
            counted_w=arr("counted_w", counted_w, np.float64),
            response_s=arr("response_s", response_s, np.float64),
        )

    def validate(self, n_models: int) -> None:
        """Raise FleetStateError naming the first bad field; silent loss is never an option."""
        n = len(self)
        for f in fields(self):
            a = getattr(self, f.name)
            if not isinstance(a, np.ndarray) or a.shape != (n,):
                shape = getattr(a, "shape", None)
                raise FleetStateError(f"{f.name}: expected an array of shape ({n},), got {shape}")
        checks = (
            ("model", (self.model < -1) | (self.model >= n_models),
             f"a model id in [-1, {n_models - 1}]"),
            ("firmware", (self.firmware < 0) | (self.firmware > max(Firmware)),
             "0 (continuous), 1 (profiles) or 2 (modes)"),
            ("state", (self.state < 0) | (self.state > max(RigState)), "a RigState value 0..4"),
            ("target_w", self.target_w < 0, "watts >= 0 or NaN"),
            ("cap_w", np.isnan(self.cap_w) | (self.cap_w < 0), "watts >= 0 or +inf"),
            ("since_s", np.isnan(self.since_s) | (self.since_s < 0), "seconds >= 0 or +inf"),
            ("boot_s", self.boot_s < 0, "seconds >= 0 or NaN"),
            ("counted_w", self.counted_w < 0, "watts >= 0 or NaN"),
            ("response_s", ~np.isfinite(self.response_s) | (self.response_s < 0),
             "finite seconds >= 0"),
        )  # fmt: skip
        for name, bad, expected in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                value = getattr(self, name)[i]
                raise FleetStateError(f"{name}[{i}] = {value!r}: expected {expected}")


def advance(
    fleet: FleetState, plan_command: np.ndarray, plan_target_w: np.ndarray, elapsed_s: float
) -> FleetState:
    """The fleet after carrying out a plan's commands and letting `elapsed_s` pass.

    For simulations and tests of the control loop: woken rigs boot (BOOTING until their
    boot time has passed, then HASHING), slept ones sleep, toggled rigs restart their hold
    clock. Unplanned rigs are left as they are. Commands as in fleetd.planner.plan.Command
    (0 keep, 1 sleep, 2 wake, 3 set).
    """
    cmd = np.asarray(plan_command)
    state = fleet.state.copy()
    target = fleet.target_w.copy()
    since = fleet.since_s.copy()
    toggled = (cmd == 1) | (cmd == 2)
    state[cmd == 1] = RigState.SLEEPING
    state[cmd == 2] = RigState.BOOTING
    run = (cmd == 2) | (cmd == 3)
    target[run] = plan_target_w[run]
    target[cmd == 1] = np.nan
    since[toggled] = 0.0
    since = since + elapsed_s
    boot = fleet.boot_s
    booted = (state == RigState.BOOTING) & ~(since < np.nan_to_num(boot, nan=0.0))
    state[booted] = RigState.HASHING
    return FleetState(
        model=fleet.model, firmware=fleet.firmware, state=state, target_w=target,
        reported_w=fleet.reported_w, stale=fleet.stale, cap_w=fleet.cap_w, since_s=since,
        boot_s=fleet.boot_s, counted_w=fleet.counted_w, response_s=fleet.response_s,
    )  # fmt: skip
