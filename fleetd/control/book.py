"""What the controller knows and intends about each rig of a site, as arrays (pure, no I/O).

The planner sees a FleetState; what goes into it is decided here, from the latest
readings and from what the controller itself told each rig:

- a failed or stale reading makes the rig UNREACHABLE (the planner counts it at nameplate);
- a reading whose request left before the rig's last command was answered, or while one
  was in flight, says nothing about that command: it is not taken (reads and commands run
  side by side, so an old reading can arrive after a new command's answer);
- a command counts from the moment it is sent: a rig being woken is BOOTING at its target
  watts, a rig being raised counts at the higher of its old and new target, a rig being
  slept still counts at what it draws (whatever it draws while it boots or ramps);
- a rig told to sleep that still draws is HASHING with its thermal cap forced to 0 W, so
  the planner sleeps it: while the sleep is young it is "pending" (not sent again); a rig
  that never showed asleep after the grace gets the sleep again as a "retry"; only a rig
  seen asleep after fleetd slept it and then seen awake has drifted ("drift: re-sleep");
- a rig told to wake that still reads asleep is BOOTING while the command is young; after
  that it is free again (no asleep hold), so the planner may retry the wake;
- the hold clock (`since_s`) runs from the controller's own last successful sleep or wake.

`orders(plan, view, now, grace)` turns a plan into the orders to send, skipping commands
already in flight or pending, ordered so that load comes off before any goes on, and the
commands that shed the most watts first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetd.drivers.backend import CREDENTIALS_REFUSED
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
    shed_w: float = 0.0  # watts it takes off the rig's count (< 0: puts on)

    @property
    def sheds(self) -> bool:
        """Takes load off: a sleep, or a lower target."""
        return self.command == Command.SLEEP or (self.command == Command.SET and self.shed_w > 0)


@dataclass(frozen=True, slots=True)
class StateView:
    """The FleetState to plan with, plus what the controller noticed building it."""

    fleet: FleetState
    drifted: np.ndarray  # bool: seen asleep after fleetd slept it, then seen awake
    pending_sleep: np.ndarray  # bool: told to sleep, still shedding within the grace
    pending_wake: np.ndarray  # bool: told to wake (or being told), not up yet
    fresh: np.ndarray  # bool: reading ok and young enough
    lost_sleep: np.ndarray | None = None  # bool: told to sleep, never seen asleep, grace over
    transitional: np.ndarray | None = None  # bool: booting, ramping or a command not yet seen


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
        self.read_at = np.full(n, -np.inf)  # the reading held
        self.seen_at = np.full(n, -np.inf)  # the rig's latest good answer, taken or not
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
        self.asleep_seen = np.zeros(n, dtype=bool)  # seen asleep since fleetd last slept it
        # the command on its way (sent, no answer yet) and when the last answer came
        self.inflight = np.zeros(n, dtype=bool)
        self.inflight_cmd = np.zeros(n, dtype=np.int8)
        self.inflight_w = np.full(n, np.nan)
        self.answered_at = np.full(n, -np.inf)
        self.slow = np.zeros(n, dtype=bool)  # its last command took longer than slow_s
        self.raised_at = np.full(n, -np.inf)  # last wake or raise answered (boot and ramp)
        self.readings_skipped = 0  # taken before (or during) a command: said nothing of it
        self.drifts_seen = 0  # readings of a rig up by itself after fleetd slept it
        self.slow_s = math.inf  # set by view(): what makes a rig slow
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
        """Take readings (in any order; unknown hosts are ignored). A reading whose request
        left before the rig's last command was answered, or while one was in flight, or
        older than the one held, is not taken."""
        for r in readings:
            i = self.index.get(r.host)
            if i is None:
                continue
            asked_at = r.read_at - max(0.0, r.latency_s)
            if self.inflight[i] or asked_at < self.answered_at[i] or r.read_at < self.read_at[i]:
                self.readings_skipped += 1
                if r.ok:  # not taken, but the rig answered: it is reachable
                    self.seen_at[i] = max(float(self.seen_at[i]), r.read_at)
                continue
            self.ok[i] = r.ok
            if r.ok:
                self.seen_at[i] = max(float(self.seen_at[i]), r.read_at)
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
            awake = int(r.state) in _AWAKE
            if self.intent[i] == ASLEEP and r.state == RigState.SLEEPING:
                self.asleep_seen[i] = True
            elif self.intent[i] == ASLEEP and awake and self.asleep_seen[i]:
                self.drifts_seen += 1  # slept, seen asleep, now up by itself
            shows = (self.intent[i] == ASLEEP and not awake) or (self.intent[i] == AWAKE and awake)
            if shows and not self.confirmed[i]:
                self.confirmed[i] = True

    def credentials_refused(self) -> list[int]:
        """Rigs whose last reading failed because they refuse the configured credentials
        (fleetd.drivers.backend): counted at nameplate, reported by name."""
        return sorted(i for i, e in self.errors.items() if CREDENTIALS_REFUSED in e)

    def newly_slow(self, now: float, slow_s: float) -> int:
        """Sheds on their way for longer than `slow_s` to rigs not yet known as slow: a
        re-plan makes the other rigs cover for them."""
        going = self.inflight & (self.inflight_cmd != Command.WAKE) & ~self.slow
        return int(np.count_nonzero(going & (now - self.sent_at > slow_s)))

    def read_once(self) -> np.ndarray:
        """Rigs with at least one answer, good or failed (start-up: who is still unknown)."""
        return np.isfinite(self.read_at) | np.isfinite(self.seen_at)

    def fresh(self, now: float, max_age_s: float) -> np.ndarray:
        """Reachable and heard from within `max_age_s`: the last reading taken was good,
        and the rig has answered since (a reading or a command) recently enough."""
        return self.ok & (now - self.seen_at <= max_age_s)

    # ------------------------------------------------------------------ the planner's view

    def view(
        self,
        now: float,
        *,
        max_age_s: float,
        grace_s: float,
        boot_s: np.ndarray | None = None,
        slow_s: float = math.inf,
        response_s: np.ndarray | None = None,
    ) -> StateView:
        """The FleetState to plan with at `now`.

        A rig with a command on its way is planned again only once the answer came: a
        wake or a raise counts at once at the higher of its old and new target; a shed
        counts as carried out while it is young, and at what the rig draws once it has
        been on its way longer than `slow_s`, and from the moment it is sent for a rig
        whose last command took that long (a slow rig: the others cover for it, and keep
        covering for it, instead of flapping with each of its commands)."""
        fresh = self.fresh(now, max_age_s)
        # a draw read before the rig's last command was answered is no longer its draw
        watts = np.where(self.read_at >= self.answered_at, self.watts, np.nan)
        seen = self.state.astype(np.int8).copy()
        awake_seen = np.isin(seen, _AWAKE)
        young = (now - self.sent_at <= grace_s) & ~self.confirmed
        told_sleep = self.intent == ASLEEP
        told_wake = self.intent == AWAKE
        going = self.inflight
        going_sleep = going & (self.inflight_cmd == Command.SLEEP)
        going_wake = going & (self.inflight_cmd == Command.WAKE)
        going_set = going & (self.inflight_cmd == Command.SET)
        pending_sleep = (fresh & told_sleep & awake_seen & young & (self.failed == 0)
                         & ~self.asleep_seen)  # fmt: skip
        drifted = fresh & told_sleep & awake_seen & self.asleep_seen & ~going_sleep
        lost_sleep = fresh & told_sleep & awake_seen & ~pending_sleep & ~drifted
        pending_wake = fresh & told_wake & (seen == RigState.SLEEPING) & young & (self.failed == 0)
        lost_wake = fresh & told_wake & (seen == RigState.SLEEPING) & ~pending_wake
        waking = fresh & going_wake & ~awake_seen  # counted at its target from the send
        pending_wake |= waking
        lost_wake &= ~waking

        state = seen
        shedding = pending_sleep | drifted | lost_sleep | (going_sleep & awake_seen)
        state[shedding] = RigState.HASHING
        state[pending_wake] = RigState.BOOTING
        state[~fresh] = RigState.UNREACHABLE

        # current target: the profile the rig reports, else our last intent, else its draw
        target = np.where(np.isnan(self.profile_w), self.intent_w, self.profile_w)
        target = np.where(np.isnan(target), watts, target)
        target[pending_wake & ~waking] = self.intent_w[pending_wake & ~waking]
        target[waking] = self.inflight_w[waking]
        raising = going_set & ~shedding
        target[raising] = np.fmax(target[raising], self.inflight_w[raising])
        # told to sleep: counts at what it draws (or drew) until asleep
        target[shedding] = np.fmax(watts[shedding], self.profile_w[shedding])
        target[~np.isin(state, _AWAKE)] = np.nan

        since = np.where(np.isfinite(self.toggled_at), now - self.toggled_at, np.inf)
        since = np.maximum(since, 0.0)
        since[waking] = 0.0  # a wake on its way holds like one carried out
        since[shedding | lost_wake] = np.inf  # not held awake by a wake we did not give
        cap = self.cap_w.copy()
        cap[shedding] = 0.0  # told to sleep: sleep it (again)
        self.slow_s = slow_s
        # on their way and not to be planned again until answered: counted, not planned
        before = np.where(np.isnan(self.profile_w), self.intent_w, self.profile_w)
        before = np.where(np.isnan(before), watts, before)
        raise_going = going_wake | (going_set & ~(self.inflight_w < before))
        self.slow |= going & (now - self.sent_at > slow_s)
        slow_shed = going & ~raise_going & self.slow
        held = fresh & (raise_going | slow_shed)
        counted = np.full(len(self), np.nan)
        drew = np.fmax(before, watts)
        counted[held] = np.fmax(drew, np.where(raise_going, self.inflight_w, np.nan))[held]
        fleet = FleetState.create(
            self.model, firmware=self.firmware, state=state, target_w=target,
            reported_w=np.where(fresh, watts, np.nan), stale=~fresh | held, cap_w=cap,
            since_s=since, boot_s=np.nan if boot_s is None else boot_s, counted_w=counted,
            response_s=0.0 if response_s is None else response_s,
        )  # fmt: skip
        transitional = going | pending_wake | pending_sleep | lost_sleep | drifted | lost_wake
        transitional |= fresh & (seen == RigState.BOOTING)
        transitional |= (now - self.sent_at <= grace_s) & ~self.confirmed
        return StateView(fleet, drifted, pending_sleep, pending_wake, fresh, lost_sleep,
                         transitional)

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
        """What to send for `plan`: the commands that take load off first, the biggest
        first (a sleep of a rig at full power before a profile step), then raises, then
        wakes (best J/TH first); commands in flight or pending are not repeated."""
        idx = np.flatnonzero(plan.command != Command.KEEP)
        if idx.size == 0:
            return []
        # per-rig figures as Python lists: indexing numpy scalars one by one costs more
        # than the whole loop for a fleet-wide shed
        young = (now - self.sent_at[idx] <= grace_s).tolist()
        confirmed = self.confirmed[idx].tolist()
        failed = self.failed[idx].tolist()
        going = self.inflight[idx].tolist()
        drifted = view.drifted[idx].tolist()
        lost = (view.lost_sleep[idx] if view.lost_sleep is not None
                else np.zeros(idx.size, dtype=bool)).tolist()  # fmt: skip
        cmds = plan.command[idx].tolist()
        target_w = plan.target_w[idx].tolist()
        profile = plan.profile[idx].tolist()
        fs = view.fleet
        mid = np.maximum(self.model[idx], 0)
        asleep_w = np.where(np.isnan(fs.reported_w[idx]), self.catalog.sleep_w[mid],
                            fs.reported_w[idx])  # fmt: skip
        now_w = np.where(np.isin(fs.state[idx], _AWAKE), np.fmax(fs.target_w[idx],
                         fs.reported_w[idx]), asleep_w)  # fmt: skip
        shed = (np.nan_to_num(now_w) - plan.power_w[idx]).tolist()
        sent_key = self.sent_key
        out: list[Order] = []
        for k, i in enumerate(idx.tolist()):
            c = _COMMAND[cmds[k]]
            target, key = self._target(i, c, target_w[k], profile[k])
            toggle = c in _TOGGLES
            pending = young[k] and (not toggle or not confirmed[k]) and failed[k] == 0
            if key == sent_key[i] and (going[k] or pending):
                continue  # on its way, or sent and not yet visible: do not pile it up
            why = "plan"
            if c == Command.SLEEP and drifted[k]:
                why = "drift: re-sleep" if failed[k] == 0 else "retry"
            elif (failed[k] > 0 or lost[k]) and key == sent_key[i]:
                why = "retry"
            out.append(Order(i, target, c, why, float(shed[k])))
        return self._ordered(out)

    def emergency_orders(self, view: StateView) -> list[Order]:
        """Sleep every rig not already seen asleep (unreachable ones too: they may hear it),
        the biggest draw first; not again while a sleep is on its way to it."""
        seen_asleep = view.fresh & (self.state == RigState.SLEEPING) & (self.intent == ASLEEP)
        going = self.inflight & (self.inflight_cmd == Command.SLEEP)
        idx = np.flatnonzero(~seen_asleep & ~going)
        mid = np.maximum(self.model[idx], 0)
        plate = np.where(self.model[idx] >= 0, self.catalog.nameplate_w[mid], 0.0)
        draw = np.where(view.fresh[idx], np.nan_to_num(self.watts[idx]), plate)
        order = np.argsort(-draw, kind="stable")
        return [Order(int(idx[k]), _SLEEP, Command.SLEEP, "emergency", float(draw[k]))
                for k in order.tolist()]  # fmt: skip

    def _ordered(self, orders: list[Order]) -> list[Order]:
        if len(orders) < 2:
            return orders
        rigs = np.fromiter((o.rig for o in orders), dtype=np.intp, count=len(orders))
        model = self.model[rigs]
        eff_all = self.catalog.nameplate_ths / self.catalog.nameplate_w
        eff = np.where(model >= 0, eff_all[np.maximum(model, 0)], 0.0).tolist()

        def rank(k: int) -> tuple[int, float, float]:
            o = orders[k]
            if o.command == Command.SLEEP or (o.command == Command.SET and o.shed_w > 0):
                return (0, -o.shed_w, eff[k])  # the most watts off first; worst J/TH first
            if o.command == Command.SET:
                return (1, -eff[k], 0.0)
            return (2, -eff[k], 0.0)  # wakes: best first

        return [orders[k] for k in sorted(range(len(orders)), key=rank)]

    # ------------------------------------------------------------------ outcomes

    def sent(self, order: Order, now: float) -> None:
        """One order goes out at `now` (scalar writes: the dispatcher sends one by one)."""
        i, c = order.rig, int(order.command)
        self.sent_at[i] = now
        self.sent_cmd[i] = c
        self.inflight[i] = True
        self.inflight_cmd[i] = c
        toggle = order.target.kind in (TargetKind.SLEEP, TargetKind.WAKE)
        self.inflight_w[i] = np.nan if order.target.kind == TargetKind.SLEEP else (
            self._target_watts(order))  # fmt: skip
        if toggle:
            self.confirmed[i] = False
        self.sent_key[i] = str(order.target)

    def sent_all(self, orders: Sequence[Order], now: float) -> None:
        """Record that `orders` go out at `now` (one array write per field): each is on
        its way until its answer comes (`result`)."""
        if not orders:
            return
        rigs = np.fromiter((o.rig for o in orders), dtype=np.intp, count=len(orders))
        cmds = [int(o.command) for o in orders]
        self.sent_at[rigs] = now
        self.sent_cmd[rigs] = cmds
        self.inflight[rigs] = True
        self.inflight_cmd[rigs] = cmds
        self.inflight_w[rigs] = [
            np.nan if o.target.kind == TargetKind.SLEEP else self._target_watts(o)
            for o in orders
        ]
        toggles = [o.rig for o in orders if o.target.kind in (TargetKind.SLEEP, TargetKind.WAKE)]
        self.confirmed[toggles] = False
        keys = self.sent_key
        for o in orders:
            keys[o.rig] = str(o.target)

    def _target_watts(self, order: Order) -> float:
        """The watts a (non-sleep) target runs the rig at, from the catalog or the target."""
        t = order.target
        if t.watts is not None:
            return float(t.watts)
        m = int(self.model[order.rig])
        if t.profile is not None and m >= 0:
            return float(self._profile_watts[m].get(t.profile, np.nan))
        return np.nan

    def result(self, order: Order, result: ApplyResult, target_w: float) -> None:
        """Record a command's outcome: intents move only when the rig accepted it."""
        i = order.rig
        self.inflight[i] = False
        self.answered_at[i] = max(float(self.answered_at[i]), result.at)
        if math.isfinite(self.slow_s):
            self.slow[i] = result.latency_s > self.slow_s
        if not result.ok:
            self.failed[i] += 1
            return
        self.failed[i] = 0
        self.seen_at[i] = max(float(self.seen_at[i]), result.at)
        kind = order.target.kind
        if kind == TargetKind.SLEEP:
            if self.intent[i] != ASLEEP:
                self.toggled_at[i] = result.at
                self.toggles[i] += 1
            self.intent[i] = ASLEEP
            self.intent_w[i] = np.nan
            self.asleep_seen[i] = False  # asleep only once a reading says so
            return
        if kind == TargetKind.WAKE and self.intent[i] != AWAKE:
            self.toggled_at[i] = result.at
            self.toggles[i] += 1
        was = self.profile_w[i]
        if kind == TargetKind.WAKE or not (math.isnan(target_w) or target_w <= was):
            self.raised_at[i] = result.at
        self.intent[i] = AWAKE
        self.asleep_seen[i] = False
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
