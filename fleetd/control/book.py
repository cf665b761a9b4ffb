"""What the controller knows and intends about each rig of a site, as arrays (pure, no I/O).

The planner sees a FleetState; what goes into it is decided here, from the latest
readings and from what the controller itself told each rig:

- a failed or stale reading makes the rig UNREACHABLE (the planner counts it at nameplate);
- a rig told to sleep that still draws is HASHING; while its sleep command is young it is
  "pending" (not sent again), after that it has drifted back awake: in both cases its
  thermal cap is forced to 0 W so the planner sleeps it (again) at once;
- a rig told to wake that still reads asleep is BOOTING while the command is young; after
  that it is free again (no asleep hold), so the planner may retry the wake;
- the hold clock (`since_s`) runs from the controller's own last successful sleep or wake.

`commands(plan, now)` turns a plan into the (rig, Target, why) list to send, skipping
commands that are already pending, ordered so that load comes off before any goes on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetd.drivers.base import ApplyResult, RigReading, Target, TargetKind
from fleetd.models import Firmware, ModelCatalog
from fleetd.planner import Command, FleetState, Plan, RigState

_AWAKE = (int(RigState.HASHING), int(RigState.BOOTING), int(RigState.DERATED))
UNKNOWN, ASLEEP, AWAKE = -1, 0, 1
_COMMAND = {int(c): c for c in Command}  # Command(int) without the enum call per rig
_SLEEP = Target.sleep()
_TOGGLES = (Command.SLEEP, Command.WAKE)


@dataclass(frozen=True, slots=True)
class Order:
    """One command to send: rig index, what to send, and why (for the audit log)."""

    rig: int
    target: Target
    command: Command
    why: str  # "plan", "drift: re-sleep", "retry", "emergency"


@dataclass(frozen=True, slots=True)
class StateView:
    """The FleetState to plan with, plus what the controller noticed building it."""

    fleet: FleetState
    drifted: np.ndarray  # bool: told to sleep, awake again after the grace period
    pending_sleep: np.ndarray  # bool: told to sleep, still shedding within the grace
    pending_wake: np.ndarray  # bool: told to wake, not up yet within the grace
    fresh: np.ndarray  # bool: reading ok and young enough


class RigBook:
    """Per-rig readings, intents and hold clocks of one site (n rigs, fixed order)."""

    def __init__(
        self,
        hosts: Sequence[str],
        model_ids: Sequence[int],
        firmware: Sequence[int],
        catalog: ModelCatalog,
    ) -> None:
        n = len(hosts)
        if len(model_ids) != n or len(firmware) != n:
            raise ValueError("hosts, model_ids and firmware must have one entry per rig")
        self.hosts = list(hosts)
        self.index = {h: i for i, h in enumerate(self.hosts)}
        self.catalog = catalog
        self.model = np.asarray(model_ids, dtype=np.int32)
        self.firmware = np.asarray(firmware, dtype=np.int8)
        # latest reading
        self.ok = np.zeros(n, dtype=bool)
        self.read_at = np.full(n, -np.inf)
        self.state = np.full(n, int(RigState.UNREACHABLE), dtype=np.int8)
        self.watts = np.full(n, np.nan)
        self.ths = np.full(n, np.nan)
        self.temp_c = np.full(n, np.nan)
        self.profile_w = np.full(n, np.nan)  # watts of the profile / limit the rig reports
        self.errors: dict[int, str] = {}
        # intent (what fleetd last told each rig) and outcome
        self.intent = np.full(n, UNKNOWN, dtype=np.int8)
        self.intent_w = np.full(n, np.nan)
        self.sent_at = np.full(n, -np.inf)
        self.sent_cmd = np.zeros(n, dtype=np.int8)
        self.sent_key = [""] * n  # str(Target) of the last command sent
        self.failed = np.zeros(n, dtype=np.int32)  # consecutive failures
        self.confirmed = np.ones(n, dtype=bool)  # a reading has shown the last command's effect
        self.toggled_at = np.full(n, -np.inf)  # last successful sleep or wake
        self.toggles = np.zeros(n, dtype=np.int64)
        self.cap_w = np.full(n, np.inf)  # thermal cap (fleetd.control.thermal)
        self._profile_watts = [
            {p.name: p.watts for p in m.profiles} | {p.name: p.watts for p in m.modes}
            for m in catalog.models
        ]
        # (command, firmware, model, profile) -> (Target, its str): a shed of thousands
        # of rigs names a handful of distinct targets
        self._targets: dict[tuple[int, int, int, int], tuple[Target, str]] = {}

    def __len__(self) -> int:
        return len(self.hosts)

    # ------------------------------------------------------------------ readings

    def observe(self, readings: Sequence[RigReading]) -> None:
        """Take a read cycle's readings (in any order; unknown hosts are ignored)."""
        for r in readings:
            i = self.index.get(r.host)
            if i is None:
                continue
            self.ok[i] = r.ok
            self.read_at[i] = r.read_at
            if not r.ok:
                self.state[i] = RigState.UNREACHABLE
                self.errors[i] = r.error
                continue
            self.errors.pop(i, None)
            self.state[i] = r.state
            self.watts[i] = np.nan if r.watts is None else r.watts
            self.ths[i] = np.nan if r.hashrate_ths is None else r.hashrate_ths
            self.temp_c[i] = np.nan if r.max_temp_c is None else r.max_temp_c
            pw = np.nan
            m = int(self.model[i])
            if r.profile is not None and m >= 0:
                pw = self._profile_watts[m].get(r.profile, np.nan)
            if math.isnan(pw) and r.power_limit_w is not None:
                pw = r.power_limit_w
            self.profile_w[i] = pw
            if not self.confirmed[i]:
                awake = int(r.state) in _AWAKE
                if (self.intent[i] == ASLEEP and not awake) or (self.intent[i] == AWAKE and awake):
                    self.confirmed[i] = True

    def fresh(self, now: float, max_age_s: float) -> np.ndarray:
        return self.ok & (now - self.read_at <= max_age_s)

    # ------------------------------------------------------------------ the planner's view

    def view(
        self, now: float, *, max_age_s: float, grace_s: float, boot_s: np.ndarray | None = None
    ) -> StateView:
        """The FleetState to plan with at `now`."""
        fresh = self.fresh(now, max_age_s)
        seen = self.state.astype(np.int8).copy()
        awake_seen = np.isin(seen, _AWAKE)
        young = (now - self.sent_at <= grace_s) & ~self.confirmed
        told_sleep = self.intent == ASLEEP
        told_wake = self.intent == AWAKE
        pending_sleep = fresh & told_sleep & awake_seen & young & (self.failed == 0)
        drifted = fresh & told_sleep & awake_seen & ~pending_sleep
        pending_wake = fresh & told_wake & (seen == RigState.SLEEPING) & young & (self.failed == 0)
        lost_wake = fresh & told_wake & (seen == RigState.SLEEPING) & ~pending_wake

        state = seen
        state[pending_sleep | drifted] = RigState.HASHING
        state[pending_wake] = RigState.BOOTING
        state[~fresh] = RigState.UNREACHABLE

        # current target: the profile the rig reports, else our last intent, else its draw
        target = np.where(np.isnan(self.profile_w), self.intent_w, self.profile_w)
        target = np.where(np.isnan(target), self.watts, target)
        target[pending_wake] = self.intent_w[pending_wake]
        shedding = pending_sleep | drifted  # counts at what it draws (or drew) until asleep
        target[shedding] = np.fmax(self.watts[shedding], self.profile_w[shedding])
        target[~np.isin(state, _AWAKE)] = np.nan

        since = np.where(np.isfinite(self.toggled_at), now - self.toggled_at, np.inf)
        since = np.maximum(since, 0.0)
        since[shedding | lost_wake] = np.inf  # not held awake by a wake we did not give
        cap = self.cap_w.copy()
        cap[shedding] = 0.0  # told to sleep: sleep it (again)
        fleet = FleetState.create(
            self.model, firmware=self.firmware, state=state, target_w=target,
            reported_w=np.where(fresh, self.watts, np.nan), stale=~fresh, cap_w=cap,
            since_s=since, boot_s=np.nan if boot_s is None else boot_s,
        )  # fmt: skip
        return StateView(fleet, drifted, pending_sleep, pending_wake, fresh)

    # ------------------------------------------------------------------ plan -> orders

    def target_for(self, i: int, command: Command, target_w: float, profile: int) -> Target:
        """The driver target that carries out one rig's planned command."""
        return self._target(i, command, target_w, profile)[0]

    def _target(
        self, i: int, command: Command, target_w: float, profile: int
    ) -> tuple[Target, str]:
        """target_for() and str() of it; named profiles and modes come from a cache."""
        if command == Command.SLEEP:
            return _SLEEP, "sleep"
        fw = int(self.firmware[i])
        if fw in (Firmware.PROFILES, Firmware.MODES):
            key = (int(command), fw, int(self.model[i]), profile)
            hit = self._targets.get(key)
            if hit is None:
                m = self.catalog.models[key[2]]
                name = (m.profiles if fw == Firmware.PROFILES else m.modes)[profile].name
                t = Target.wake(profile=name) if command == Command.WAKE else (
                    Target.use_profile(name))  # fmt: skip
                hit = self._targets[key] = (t, str(t))
            return hit
        watts = float(max(1.0, math.floor(target_w)))
        t = Target.wake(watts=watts) if command == Command.WAKE else Target.limit_watts(watts)
        return t, str(t)

    def orders(self, plan: Plan, view: StateView, now: float, grace_s: float) -> list[Order]:
        """What to send for `plan`: sheds first (worst J/TH first), then turn-downs, then
        raises, then wakes (best first); commands already pending are not repeated."""
        idx = np.flatnonzero(plan.command != Command.KEEP)
        if idx.size == 0:
            return []
        # per-rig figures as Python lists: indexing numpy scalars one by one costs more
        # than the whole loop for a fleet-wide shed
        young = (now - self.sent_at[idx] <= grace_s).tolist()
        confirmed = self.confirmed[idx].tolist()
        failed = self.failed[idx].tolist()
        drifted = view.drifted[idx].tolist()
        cmds = plan.command[idx].tolist()
        target_w = plan.target_w[idx].tolist()
        profile = plan.profile[idx].tolist()
        sent_key = self.sent_key
        out: list[Order] = []
        for k, i in enumerate(idx.tolist()):
            c = _COMMAND[cmds[k]]
            target, key = self._target(i, c, target_w[k], profile[k])
            toggle = c in _TOGGLES
            in_flight = young[k] and (not toggle or not confirmed[k])
            if in_flight and failed[k] == 0 and key == sent_key[i]:
                continue  # sent, not yet visible: do not pile up the same command
            why = "plan"
            if c == Command.SLEEP and drifted[k]:
                why = "drift: re-sleep" if failed[k] == 0 else "retry"
            elif failed[k] > 0 and key == sent_key[i]:
                why = "retry"
            out.append(Order(i, target, c, why))
        return self._ordered(out, plan)

    def emergency_orders(self, view: StateView) -> list[Order]:
        """Sleep every rig not already seen asleep (unreachable ones too: they may hear it)."""
        seen_asleep = view.fresh & (self.state == RigState.SLEEPING) & (self.intent == ASLEEP)
        return [
            Order(i, Target.sleep(), Command.SLEEP, "emergency")
            for i in np.flatnonzero(~seen_asleep).tolist()
        ]

    def _ordered(self, orders: list[Order], plan: Plan) -> list[Order]:
        if len(orders) < 2:
            return orders
        rigs = np.fromiter((o.rig for o in orders), dtype=np.intp, count=len(orders))
        model = self.model[rigs]
        eff_all = self.catalog.nameplate_ths / self.catalog.nameplate_w
        eff = np.where(model >= 0, eff_all[np.maximum(model, 0)], 0.0).tolist()
        cur = self.profile_w[rigs]
        down = (~np.isnan(cur) & (plan.target_w[rigs] < cur)).tolist()

        def rank(k: int) -> tuple[int, float]:
            c = orders[k].command
            if c == Command.SLEEP:
                return (0, eff[k])  # worst J/TH (lowest TH per W) first
            if c == Command.SET:
                return (1 if down[k] else 2, -eff[k])
            return (3, -eff[k])  # wakes: best first

        return [orders[k] for k in sorted(range(len(orders)), key=rank)]

    # ------------------------------------------------------------------ outcomes

    def sent(self, order: Order, now: float) -> None:
        self.sent_all([order], now)

    def sent_all(self, orders: Sequence[Order], now: float) -> None:
        """Record that `orders` go out at `now` (one array write per field)."""
        if not orders:
            return
        rigs = np.fromiter((o.rig for o in orders), dtype=np.intp, count=len(orders))
        self.sent_at[rigs] = now
        self.sent_cmd[rigs] = [int(o.command) for o in orders]
        toggles = [o.rig for o in orders if o.target.kind in (TargetKind.SLEEP, TargetKind.WAKE)]
        self.confirmed[toggles] = False
        keys = self.sent_key
        for o in orders:
            keys[o.rig] = str(o.target)

    def result(self, order: Order, result: ApplyResult, target_w: float) -> None:
        """Record a command's outcome: intents move only when the rig accepted it."""
        i = order.rig
        if not result.ok:
            self.failed[i] += 1
            return
        self.failed[i] = 0
        kind = order.target.kind
        if kind == TargetKind.SLEEP:
            if self.intent[i] != ASLEEP:
                self.toggled_at[i] = result.at
                self.toggles[i] += 1
            self.intent[i] = ASLEEP
            self.intent_w[i] = np.nan
            return
        if kind == TargetKind.WAKE and self.intent[i] != AWAKE:
            self.toggled_at[i] = result.at
            self.toggles[i] += 1
        self.intent[i] = AWAKE
        self.intent_w[i] = target_w
        if not math.isnan(target_w):
            self.profile_w[i] = target_w  # what the rig now runs (until the next reading)

    def adopt_observed(self) -> None:
        """At start: take what each fresh rig is doing as the intent (nothing was sent)."""
        known = self.ok & (self.intent == UNKNOWN)
        awake = np.isin(self.state, _AWAKE)
        self.intent[known & awake] = AWAKE
        self.intent[known & (self.state == RigState.SLEEPING)] = ASLEEP
        self.intent_w[known & awake] = self.profile_w[known & awake]

    # ------------------------------------------------------------------ summaries

    def counts(self, now: float, max_age_s: float) -> dict[str, int]:
        """Rigs by state as last read (stale readings count as unreachable)."""
        st = np.where(self.fresh(now, max_age_s), self.state, RigState.UNREACHABLE)
        c = np.bincount(st.astype(np.intp), minlength=len(RigState))
        return {s.name.lower(): int(c[s]) for s in RigState}
