"""The control loop of one site: read, plan, send, verify; the asyncio shell around the
pure planner.

Four tasks run side by side, and none of them waits for another's I/O:

- the reader (fleetd.control.reader) reads every rig once a control period, each reading
  going into the book the moment it arrives; a slow or silent rig is bounded by its own
  timeout and holds back nobody else's reading;
- the plan step (`step`) is synchronous and takes milliseconds: budget (fleetd.control.site), the
  planner's view (fleetd.control.book), the plan, the orders; it runs every period, and at
  once when the watch or an operator asks;
- the dispatcher (fleetd.control.dispatch) sends the orders, the biggest sheds first, a
  window of commands in flight, one per rig; each new plan replaces the orders not yet
  sent, so a cut preempts whatever the site was doing;
- the watch checks the allotment, meters and firm loads every `watch_s`: a budget below
  the last plan's re-plans at once (an unannounced cut never waits for a read or a
  fan-out), so does a shed still unanswered after `slow_command_s` (the other rigs then
  cover for that slow rig) and a reading of a slept rig up by itself; the meter above
  the allotment re-plans once the rigs have had time to answer the last commands; and
  the site's power is integrated against the allotment (fleetd.compliance: the meter's
  readings where there is a meter, above the allotment in force and above the stale-feed
  floor kept apart) for the metrics and the compliance samples.

Start-up: the first plan comes as soon as every rig has answered once, or `first_plan_s`
later: rigs not read by then count as the site meter says (Site.unread_w in
fleetd.control.site), and each new batch of readings re-plans until every rig has answered.

Effects are verified from later readings: a command not visible after the grace period is
sent again, a rig seen asleep after fleetd slept it and then seen awake is re-slept. Every
command goes to the audit log with the signal that caused it. The emergency stop sleeps
every rig not seen asleep, on every plan until resumed. `cycle()` runs one read, plan and
send by hand and returns when every command is answered (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fleetd.allotment import Override
from fleetd.audit import AuditLog, Signal
from fleetd.compliance import CapAccount
from fleetd.control.book import Order, StateView
from fleetd.control.dispatch import Dispatcher
from fleetd.control.reader import Reader
from fleetd.control.samples import SampleLog
from fleetd.control.shed_first import listed_mask, shed_first
from fleetd.control.site import Site, SiteBudget
from fleetd.control.stats import Interval, SiteStats
from fleetd.drivers import ApplyResult
from fleetd.models import Firmware
from fleetd.planner import Plan, emergency_plan, plan
from fleetd.planner.fleet import FleetState

CREDENTIALS_LISTED = 100  # hosts named in the /sites view (the count is complete)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one plan step did (returned by `cycle()` and `step()`, kept as `last_cycle`)."""

    reason: str
    at: float
    read: bool
    budget: SiteBudget
    plan: Plan
    orders: int
    failed: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class _Sent:
    """What the audit record of an order's answer needs from the plan that made it."""

    signal: Signal
    plan_id: str
    target_w: float
    hold_broken: bool


class SiteController:
    """Runs one site. Create, then `await run()` (or call `cycle()` yourself in tests)."""

    def __init__(
        self,
        site: Site,
        *,
        audit: AuditLog | None = None,
        samples: SampleLog | None = None,
        concurrency: int = 256,
        read_deadline_s: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.site = site
        self.audit = audit
        self.samples = samples
        self.clock = clock or site.clock
        self.read_deadline_s = read_deadline_s
        self.reader = Reader(site.drivers, site.book, concurrency, clock=self.clock)
        width = min(concurrency, site.config.command_batch_size)
        self.dispatcher = Dispatcher(site.drivers, width, on_send=self._on_send,
                                     on_result=self._on_result, clock=self.clock)  # fmt: skip
        self.stats = SiteStats(site.name, rigs_total=len(site.specs))
        self.stats.meter_factor = site.meter_factor()
        self.last_plan: Plan | None = None
        self.last_view: StateView | None = None
        self.last_budget: SiteBudget | None = None
        self.last_cycle: CycleReport | None = None
        self.emergency = False
        self.emergency_reason = ""
        # rigs shed before any other (fleetd.control.shed_first; PUT /sites/{site}/shed-first)
        self.shed_first: frozenset[str] = frozenset()
        self.on_cycle: Callable[[CycleReport], None] | None = None  # metrics hook
        self._trigger = asyncio.Event()
        self._trigger_reason = ""
        self._last_plan_at: float | None = None
        self._last_send_mono = -float("inf")
        self._last_answer_mono = -float("inf")
        n = len(site.specs)
        self._shed_from_w = np.zeros(n)  # what a rig drew when fleetd last shed it
        self._shed_until = np.full(n, -np.inf)  # ... counted so until then (monotonic)
        self._last_signal_id = ""
        self._readings_planned = 0  # reader.readings at the last step
        self._drifts_planned = 0  # book.drifts_seen at the last step
        self._unread_w: np.ndarray | None = None  # start-up: meter shares of unread rigs
        self._queued: dict[int, _Sent] = {}  # id(order) -> its plan, for the orders queued
        self._going: dict[int, _Sent] = {}  # ... and for those on their way
        self._answers: list[tuple[Order, ApplyResult, _Sent]] = []  # not yet audited
        self._step_failed = 0
        self._send_started_mono = 0.0
        self._acc_at: float | None = None
        self._interval = Interval(t0=self.clock())
        self.caps = CapAccount(site)
        self._cycle_orders = 0
        self.first_cycle_done = asyncio.Event()

    @property
    def name(self) -> str:
        return self.site.name

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Control until cancelled: reader, plan loop, dispatcher and watch."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.reader.run(self.site.period_s), name=f"fleetd:{self.name}:read")
                tg.create_task(self.dispatcher.run(), name=f"fleetd:{self.name}:send")
                tg.create_task(self._loop(), name=f"fleetd:{self.name}:loop")
                tg.create_task(self._watch(), name=f"fleetd:{self.name}:watch")
        finally:
            self._audit_answers()
            self._write_sample(self.clock())

    def trigger(self, reason: str) -> None:
        """Re-plan now (the plan loop wakes at once; a plan takes milliseconds)."""
        if not self._trigger.is_set():
            self._trigger_reason = reason
            self.stats.replans_triggered += 1
        self._trigger.set()

    def _inputs_ready(self) -> bool:
        """Start-up: every rig answered, and the meter and each live feed heard once."""
        site = self.site
        if not self.reader.read_once():
            return False
        if site.meter is not None and site.meter.read_at is None and site.meter.errors == 0:
            return False
        for src in site.allotment.sources:
            state = getattr(src, "state", None)
            if state is not None and state.value is None and state.errors == 0:
                return False
        return True

    async def _loop(self) -> None:
        t = self.site.tuning
        deadline = time.monotonic() + min(t.first_plan_s, self.site.period_s / 2)
        while not self._inputs_ready() and time.monotonic() < deadline:
            self.reader.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reader.arrived.wait(), min(t.watch_s, 0.05))
        period = self.site.period_s
        while True:
            started = time.monotonic()
            reason = self._trigger_reason or "period"
            self._trigger.clear()
            self._trigger_reason = ""
            try:
                self.step(reason)
            except Exception:  # one bad plan must not stop the site's control
                log.exception("site %r: control step failed", self.name)
            # until every rig has answered once, each batch of new readings re-plans
            while True:
                starting = not self.reader.read_once()
                wait = max(0.0, period - (time.monotonic() - started))
                if starting:
                    wait = min(wait, t.watch_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._trigger.wait(), wait)
                if self._trigger.is_set() or time.monotonic() - started >= period:
                    break
                if starting and self.reader.readings != self._readings_planned:
                    self._trigger_reason = "new readings at start-up"
                    break

    async def _watch(self) -> None:
        t = self.site.tuning
        while True:
            await asyncio.sleep(t.watch_s)
            now = self.clock()
            self.account(now)
            if self.dispatcher.idle or time.monotonic() - self._last_send_mono > 1.0:
                self._audit_answers()  # not in the middle of a fan-out
            if self.audit is not None:
                self.audit.tick()
            if self.last_budget is None:
                continue
            b = self.site.budget(now)
            slow = self.site.book.newly_slow(now, t.slow_command_s)
            if b.miner_w < self.last_budget.miner_w * (1.0 - t.replan_drop_frac) - 1.0:
                self.trigger(f"budget drop: {b.effective.reason}")
            elif slow:
                self.trigger(f"{slow} sheds unanswered after {t.slow_command_s:g} s")
            elif self.site.book.drifts_seen != self._drifts_planned:
                self.trigger("a rig slept by fleetd is up by itself")
            elif (
                self.stats.site_w_source == "meter"
                and self.stats.site_w > b.allotment_w
                and self.dispatcher.idle
                and time.monotonic() - self._last_answer_mono > self.site.max_response_s
            ):
                self.site.learn_up(now, self.site.counted_rigs_w(now))
                self.trigger("meter above the allotment")

    # ------------------------------------------------------------------ one step

    async def cycle(self, reason: str = "period", *, read: bool = True) -> CycleReport:
        """Read every rig (unless `read` is False), plan and send once; returns when every
        command is answered."""
        t0 = time.monotonic()
        if read or self.last_plan is None:
            await self.reader.round(self.read_deadline_s)
            read = True
        report = self.step(reason, read=read)
        await self.dispatcher.flush()
        self._audit_answers()
        report = replace(report, failed=self._step_failed, duration_s=time.monotonic() - t0)
        self.last_cycle = report
        return report

    def step(self, reason: str = "period", *, read: bool = False) -> CycleReport:
        """Plan from the book as it stands and hand the orders to the dispatcher."""
        site, book = self.site, self.site.book
        t_start = time.monotonic()
        now = self.clock()
        book.adopt_observed()
        cfg = site.config
        max_age = cfg.max_reading_age_s
        fresh = book.fresh(now, max_age)
        site.thermal.update(now, fresh=fresh, state=book.state, temp_c=book.temp_c,
                            running_w=book.profile_w)  # fmt: skip
        book.cap_w = site.thermal.cap_w
        budget = site.budget(now)
        grace = max(site.tuning.grace_for(site.period_s), site.max_response_s)
        view = book.view(now, max_age_s=max_age, grace_s=grace, boot_s=site.boot_s,
                         slow_s=site.tuning.slow_command_s, response_s=site.response_s)
        fleet = self._count_unread(now, view.fleet)
        dt = site.period_s if self._last_plan_at is None else max(0.0, now - self._last_plan_at)
        if self.emergency:
            p = emergency_plan(fleet, catalog=site.catalog, config=site.planner_config)
            orders = book.emergency_orders(view)
        else:
            def replan(f: FleetState) -> Plan:
                return plan(f, budget.miner_w, catalog=site.catalog, config=site.planner_config,
                            dt_s=dt, wake_budget_w=budget.wake_w)  # fmt: skip

            p = replan(fleet)
            if self.shed_first:
                listed = listed_mask([s.name for s in site.specs],
                                     [s.host for s in site.specs], self.shed_first)  # fmt: skip
                p = shed_first(p, fleet, listed, replan, site.catalog)
            orders = book.orders(p, view, now, grace)
        self._last_plan_at = now
        orders = self._fit_raises(orders, p, budget.miner_w)
        read = read or self.reader.readings != self._readings_planned
        self._readings_planned = self.reader.readings
        self._drifts_planned = book.drifts_seen
        t_plan = time.monotonic()
        signal = self._signal(reason, budget, p)
        self._submit(orders, p, signal, now)

        # meter loop: learn only when nothing is on its way or still answering it
        settled = (
            self.dispatcher.idle and not orders
            and time.monotonic() - self._last_answer_mono > site.max_response_s
        )  # fmt: skip
        site.learn_meter(now, site.counted_rigs_w(now), settled)
        self.last_plan, self.last_view, self.last_budget = p, view, budget
        t_end = time.monotonic()
        self._update_stats(now, budget, p, view, t_end - t_start, t_plan - t_start)
        self.account(self.clock())
        self._write_sample(self.clock())
        report = CycleReport(reason, now, read, budget, p, len(orders), 0, t_end - t_start)
        self.last_cycle = report
        if self.on_cycle is not None:
            self.on_cycle(report)
        self.first_cycle_done.set()
        return report

    def _fit_raises(self, orders: list[Order], p: Plan, budget_w: float) -> list[Order]:
        """The way up waits for the way down: raises and wakes go only into the room left
        under the budget while every shed of this plan, and every earlier shed still on
        its way or ramping down (answered less than the rigs' response time ago), still
        draws what it drew. A raise that ramps up faster than another rig sheds would
        otherwise take the site over its cap; the rest wait for a later plan."""
        now = time.monotonic()
        going = now < self._shed_until
        for o in orders:
            going[o.rig] = False  # replaced by this plan's order for the rig
        before = float(np.maximum(self._shed_from_w[going] - p.power_w[going], 0.0).sum())
        raises = [o for o in orders if not o.sheds]
        if not raises:
            return orders
        # the plan's total with its raises not yet made and no shed yet carried out
        worst = p.total_w - sum(max(0.0, -o.shed_w) for o in raises)
        worst += sum(o.shed_w for o in orders if o.sheds) + before
        room = budget_w - worst
        kept = [o for o in orders if o.sheds]
        for o in raises:  # in sending order: the best first
            need = max(0.0, -o.shed_w)
            if need <= room:
                kept.append(o)
                room -= need
            else:
                self.stats.raises_held += 1
        return kept

    def _count_unread(self, now: float, fleet: FleetState) -> FleetState:
        """Start-up: rigs that have not answered yet count as the site meter says, from a
        meter reading taken before fleetd sent anything (their draw has not changed
        since: fleetd has not told them anything)."""
        read = self.site.book.read_once()
        if read.all():
            self._unread_w = None
            return fleet
        if self._unread_w is None and self.dispatcher.sent == 0:
            self._unread_w = self.site.unread_w(now, read)
        if self._unread_w is None:
            return fleet
        counted = np.where(read, fleet.counted_w, self._unread_w)
        return replace(fleet, counted_w=counted)

    def _signal(self, reason: str, budget: SiteBudget, p: Plan) -> Signal:
        eff = budget.effective
        why = reason if not self.emergency else f"emergency stop: {self.emergency_reason}"
        text = (
            f"{why}; allotment {eff.reason}; miners' budget {budget.miner_w / 1e3:.1f} kW"
            f" (cap planned {budget.planned_cap_w / 1e6:.4f} MW)"
        )
        sig = Signal(eff.change_id, text, eff.mw, eff.bound_by)
        if self.audit is not None and (eff.change_id != self._last_signal_id or reason != "period"):
            self.audit.signal(self.name, sig, budget_w=round(budget.miner_w, 1),
                              planned_w=round(p.total_w, 1), infeasible=p.infeasible)  # fmt: skip
            self._last_signal_id = eff.change_id
        return sig

    # ------------------------------------------------------------------ sending

    def _submit(self, orders: list[Order], p: Plan, signal: Signal, now: float) -> None:
        """Hand the plan's orders to the dispatcher (they replace the unsent ones)."""
        plan_id = f"{self.name}@{now:.3f}"
        self._queued = {
            id(o): _Sent(signal, plan_id, float(p.target_w[o.rig]), bool(p.hold_broken[o.rig]))
            for o in orders
        }
        self._step_failed = 0
        if orders:
            self._send_started_mono = time.monotonic()
            self._cycle_orders += len(orders)
        self.dispatcher.submit(orders)

    def _on_send(self, o: Order) -> None:
        self.site.book.sent(o, self.clock())
        ctx = self._queued.pop(id(o), None)
        if ctx is not None:  # on its way: kept when a newer plan replaces the queue
            self._going[id(o)] = ctx
        self._last_send_mono = time.monotonic()
        if o.sheds:
            ctx = self._going.get(id(o))
            after = ctx.target_w if ctx is not None and ctx.target_w == ctx.target_w else 0.0
            self._shed_from_w[o.rig] = after + o.shed_w
            self._shed_until[o.rig] = np.inf  # on its way

    def _on_result(self, o: Order, res: ApplyResult) -> None:
        ctx = self._going.pop(id(o), None)
        target_w = ctx.target_w if ctx is not None else float("nan")
        self.site.book.result(o, res, target_w)
        kind = o.target.kind.value
        self.stats.commands[(kind, "ok" if res.ok else "failed")] += 1
        self._interval.commands[kind] += 1
        if o.why == "drift: re-sleep":
            self.stats.drift_resleeps += 1
        elif o.why == "retry":
            self.stats.retries += 1
        if not res.ok:
            self._step_failed += 1
        self._last_answer_mono = time.monotonic()
        if o.sheds:  # ramping down for the rigs' response time, if it was carried out
            ramp = float(self.site.response_s[o.rig]) if res.ok else 0.0
            self._shed_until[o.rig] = self._last_answer_mono + ramp
        if ctx is not None:
            self._answers.append((o, res, ctx))
        if self.dispatcher.idle:
            self.stats.last_commands_done_at = self.clock()
            self.stats.last_send_s = time.monotonic() - self._send_started_mono
            self._audit_answers()

    def _audit_answers(self) -> None:
        """The audit records of the answers so far: written after the fan-out (or by the
        watch), so a shed is not slowed by writing its records; each record carries the
        moment its outcome was known (`at`)."""
        if not self._answers:
            return
        answers, self._answers = self._answers, []
        if self.audit is None:
            return
        for o, res, ctx in answers:
            self.audit.command(
                self.name, res, ctx.signal, plan_id=ctx.plan_id, why=o.why,
                at=round(res.at, 3), plan_command=o.command.name.lower(),
                target_w=round(ctx.target_w, 1), hold_broken=ctx.hold_broken,
                shed_w=round(o.shed_w, 1), detail=res.detail,
            )  # fmt: skip
        self.audit.tick()

    def _update_stats(
        self, now: float, b: SiteBudget, p: Plan, view: StateView, total_s: float, plan_s: float
    ) -> None:
        st, book = self.stats, self.site.book
        st.cycles += 1
        st.last_cycle_s, st.last_read_s, st.last_plan_s = (
            total_s, self.reader.last_round_s, plan_s,
        )  # fmt: skip
        st.max_cycle_s = max(st.max_cycle_s, total_s)
        st.last_cycle_at = now
        st.allotment_w = b.allotment_w
        st.allotment_reason = b.effective.reason
        st.allotment_change_id = b.effective.change_id
        st.allotment_stale = b.effective.stale
        st.budget_w, st.wake_budget_w, st.firm_w = b.miner_w, b.wake_w, b.firm_w
        st.meter_factor = self.site.meter_factor()
        st.planned_w, st.planned_ths = p.total_w, p.total_ths
        st.infeasible = p.infeasible
        st.emergency = self.emergency
        st.hashrate_ths = float(np.nansum(np.where(view.fresh, book.ths, 0.0)))
        st.rigs_by_state = book.counts(now, self.site.config.max_reading_age_s)
        st.rigs_unreachable = st.rigs_by_state.get("unreachable", 0)
        refused = book.credentials_refused()
        st.rigs_credentials_refused = len(refused)
        st.credentials_refused = [book.hosts[i] for i in refused[:CREDENTIALS_LISTED]]

    # ------------------------------------------------------------------ power accounting

    def account(self, now: float) -> None:
        """Integrate the site's power against the allotment in force, up to `now`."""
        site, st = self.site, self.stats
        w, source = site.site_w(now)
        st.site_w, st.site_w_source = w, source
        st.estimated_site_w = site.estimate_site_w(now, site.rigs_w(now))
        if self._acc_at is None:
            self._interval.t0 = now
        self._acc_at = now if self._acc_at is None else max(self._acc_at, now)
        self.caps.update(now, st.estimated_site_w)
        tot = self.caps.total
        st.energy_j, st.above_cap_s, st.above_cap_j = tot.energy_j, tot.above_s, tot.above_j
        st.above_floor_s, st.above_floor_j = tot.floor_above_s, tot.floor_above_j

    def _write_sample(self, now: float) -> None:
        iv = self._interval
        if self.samples is None or self._acc_at is None or self._acc_at <= iv.t0:
            return
        st = self.stats
        caps = self.caps.take_interval(self._acc_at)
        if caps.seconds <= 0:
            return  # nothing measured or estimated yet
        self.samples.write({
            "site": self.name, "t0": round(iv.t0, 3), "t1": round(self._acc_at, 3),
            **caps.as_sample_fields(),
            "site_w": round(st.site_w, 1), "source": st.site_w_source,
            "budget_w": round(st.budget_w, 1), "planned_ths": round(st.planned_ths, 2),
            "hashrate_ths": round(st.hashrate_ths, 2), "commands": dict(iv.commands),
            "emergency": self.emergency,
        })  # fmt: skip
        self._interval = Interval(t0=self._acc_at)

    # ------------------------------------------------------------------ operator actions

    async def emergency_stop(self, by: str = "operator", reason: str = "") -> None:
        """Sleep every rig now and keep them asleep until `resume()`."""
        self.emergency = True
        self.emergency_reason = f"{by}: {reason}" if reason else by
        if self.audit is not None:
            self.audit.note(self.name, "emergency stop", by=by, reason=reason)
        self.trigger("emergency stop")

    async def resume(self, by: str = "operator", reason: str = "") -> None:
        self.emergency = False
        self.emergency_reason = ""
        if self.audit is not None:
            self.audit.note(self.name, "resume after emergency stop", by=by, reason=reason)
        self.trigger("resume")

    def set_override(
        self, mw: float, *, ttl_s: float, reason: str = "", by: str = "operator"
    ) -> Override:
        """Cap the site by hand (AllotmentError if overrides are off or the figure is bad)."""
        src = self.site.override
        if src is None:
            from fleetd.allotment import AllotmentError

            raise AllotmentError(f"site {self.name!r}: operator override is disabled in config")
        o = src.set(mw, now=self.clock(), ttl_s=ttl_s, reason=reason, by=by)
        if self.audit is not None:
            self.audit.note(self.name, "allotment override set", mw=mw, ttl_s=ttl_s,
                            reason=reason, by=by, change_id=o.change_id)  # fmt: skip
        self.trigger(f"override {mw:g} MW by {by}")
        return o

    def clear_override(self, by: str = "operator") -> Override | None:
        src = self.site.override
        old = src.clear() if src is not None else None
        if old is not None:
            if self.audit is not None:
                self.audit.note(self.name, "allotment override cleared", by=by)
            self.trigger(f"override cleared by {by}")
        return old

    # ------------------------------------------------------------------ views (API)

    def summary(self) -> dict[str, Any]:
        st = self.stats
        o = self.site.override.active if self.site.override is not None else None
        return {
            "site": self.name, "allotment_mw": st.allotment_w / 1e6,
            "allotment_reason": st.allotment_reason, "allotment_stale": st.allotment_stale,
            "budget_kw": st.budget_w / 1e3, "site_kw": st.site_w / 1e3,
            "site_power_source": st.site_w_source, "firm_kw": st.firm_w / 1e3,
            "planned_kw": st.planned_w / 1e3, "planned_ths": st.planned_ths,
            "hashrate_ths": st.hashrate_ths, "rigs": st.rigs_total,
            "rigs_by_state": st.rigs_by_state, "emergency": self.emergency,
            "emergency_reason": self.emergency_reason,
            "override": None if o is None else {
                "mw": o.mw, "expires_at": o.expires_at, "reason": o.reason, "by": o.by,
            },
            "above_cap_s": st.above_cap_s, "above_cap_kwh": st.above_cap_kwh,
            "above_floor_s": st.above_floor_s, "above_floor_kwh": st.above_floor_j / 3.6e6,
            "above_cap_source": self.caps.source_text(),
            "cycles": st.cycles, "last_cycle_s": st.last_cycle_s,
            "commands": st.commands_by_kind(), "meter_factor": st.meter_factor,
            "rigs_credentials_refused": st.rigs_credentials_refused,
            "credentials_refused": list(st.credentials_refused),
        }  # fmt: skip

    def rigs(self) -> list[dict[str, Any]]:
        book, now = self.site.book, self.clock()
        fresh = book.fresh(now, self.site.config.max_reading_age_s)
        out = []
        for i, spec in enumerate(self.site.specs):
            out.append({
                "host": spec.host, "name": spec.name, "model": spec.model,
                "firmware": spec.firmware.value, "control": self.site.granularity[i],
                "response_s": float(self.site.response_s[i]), "fresh": bool(fresh[i]),
                "state": _state_name(int(book.state[i])),
                "watts": _num(book.watts[i]), "ths": _num(book.ths[i]),
                "temp_c": _num(book.temp_c[i]), "target_w": _num(book.profile_w[i]),
                "intent": {-1: "unknown", 0: "asleep", 1: "awake"}[int(book.intent[i])],
                "thermal_cap_w": _num(book.cap_w[i]),
                "error": book.errors.get(i, ""),
            })  # fmt: skip
        return out

    def plan_view(self) -> dict[str, Any]:
        p, b = self.last_plan, self.last_budget
        if p is None or b is None:
            return {"site": self.name, "plan": None}
        rows = []
        for i, spec in enumerate(self.site.specs):
            rows.append({
                "host": spec.host, "command": _cmd_name(int(p.command[i])),
                "awake": bool(p.awake[i]), "target_w": _num(p.target_w[i]),
                "profile": self._profile_name(i, int(p.profile[i])),
                "planned": bool(p.planned[i]), "hold_broken": bool(p.hold_broken[i]),
            })  # fmt: skip
        return {
            "site": self.name, "at": b.at, "budget_kw": p.budget_w / 1e3,
            "limit_kw": p.limit_w / 1e3, "total_kw": p.total_w / 1e3, "total_ths": p.total_ths,
            "unplanned_kw": p.unplanned_w / 1e3, "infeasible": p.infeasible,
            "ramp_limited": p.ramp_limited, "emergency": p.emergency, "counts": p.counts(),
            "rigs": rows,
        }  # fmt: skip

    def _profile_name(self, i: int, profile: int) -> str | None:
        if profile < 0:
            return None
        m = self.site.catalog.models[int(self.site.book.model[i])]
        fw = int(self.site.book.firmware[i])
        pts = m.profiles if fw == Firmware.PROFILES else m.modes
        return pts[profile].name if profile < len(pts) else None


def _num(x: float) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 3)


def _state_name(s: int) -> str:
    from fleetd.planner import RigState

    return RigState(s).name.lower()


def _cmd_name(c: int) -> str:
    from fleetd.planner import Command

    return Command(c).name.lower()
