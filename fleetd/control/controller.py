"""The control loop of one site: read, plan, send, verify; the asyncio shell around the
pure planner.

Each cycle reads every rig (bounded concurrency, per-read timeouts, an overall deadline),
builds the planner's view (fleetd.control.book), computes the budget (fleetd.site),
plans, and sends the commands in batches, sheds first. Effects are verified on the next
cycle's readings: a command not visible after the grace period is sent again, a rig told
to sleep that is awake again is re-slept. Every command goes to the audit log with the
signal that caused it.

Between cycles a watch task checks the allotment, meters and firm loads every `watch_s`:
a budget below the last plan's re-plans at once (an unannounced cut does not wait for the
period), and the site's power is integrated against the allotment (fleetd.compliance:
the meter's readings where there is a meter, above the allotment in force and above the
stale-feed floor kept apart) for metrics and the compliance samples.

The emergency stop sleeps every rig not seen asleep, on every cycle until resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetd.allotment import Override
from fleetd.audit import AuditLog, Signal
from fleetd.compliance import CapAccount
from fleetd.control.book import Order, StateView
from fleetd.control.samples import SampleLog
from fleetd.control.stats import Interval, SiteStats
from fleetd.drivers import ApplyResult, Fanout
from fleetd.models import Firmware
from fleetd.planner import Plan, emergency_plan, plan
from fleetd.site import Site, SiteBudget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did (returned by `cycle()`, kept as `last_cycle`)."""

    reason: str
    at: float
    read: bool
    budget: SiteBudget
    plan: Plan
    orders: int
    failed: int
    duration_s: float


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
        self.fanout = Fanout(concurrency, clock=self.clock)
        self.read_deadline_s = read_deadline_s
        self.stats = SiteStats(site.name, rigs_total=len(site.specs))
        self.stats.meter_factor = site.meter_factor()
        self.last_plan: Plan | None = None
        self.last_view: StateView | None = None
        self.last_budget: SiteBudget | None = None
        self.last_cycle: CycleReport | None = None
        self.emergency = False
        self.emergency_reason = ""
        self._lock = asyncio.Lock()
        self._trigger = asyncio.Event()
        self._trigger_reason = ""
        self._last_plan_at: float | None = None
        self._last_read_mono = -float("inf")
        self._last_send_mono = -float("inf")
        self._last_signal_id = ""
        self._started = False
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
        """Control until cancelled: the cycle loop and the watch task."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._loop(), name=f"fleetd:{self.name}:loop")
                tg.create_task(self._watch(), name=f"fleetd:{self.name}:watch")
        finally:
            self._write_sample(self.clock())

    def trigger(self, reason: str) -> None:
        """Re-plan now (the loop picks it up as soon as the running cycle ends)."""
        if not self._trigger.is_set():
            self._trigger_reason = reason
            self.stats.replans_triggered += 1
        self._trigger.set()

    async def _loop(self) -> None:
        period = self.site.period_s
        while True:
            started = time.monotonic()
            reason = self._trigger_reason or "period"
            self._trigger.clear()
            self._trigger_reason = ""
            fast = reason != "period" and time.monotonic() - self._last_read_mono < period
            try:
                await self.cycle(reason, read=not fast)
            except Exception:  # one bad cycle must not stop the site's control
                log.exception("site %r: control cycle failed", self.name)
            wait = max(0.0, period - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._trigger.wait(), wait)

    async def _watch(self) -> None:
        t = self.site.tuning
        while True:
            await asyncio.sleep(t.watch_s)
            now = self.clock()
            self.account(now)
            if self.audit is not None:
                self.audit.tick()
            if self.last_budget is None or self._lock.locked():
                continue
            b = self.site.budget(now)
            if b.miner_w < self.last_budget.miner_w * (1.0 - t.replan_drop_frac) - 1.0:
                self.trigger(f"budget drop: {b.effective.reason}")
            elif (
                self.stats.site_w_source == "meter"
                and self.stats.site_w > b.allotment_w
                and time.monotonic() - self._last_send_mono > t.response_s
            ):
                self.trigger("meter above the allotment")

    # ------------------------------------------------------------------ one cycle

    async def cycle(self, reason: str = "period", *, read: bool = True) -> CycleReport:
        """Read (unless `read` is False), plan and send once."""
        async with self._lock:
            return await self._cycle(reason, read)

    async def _cycle(self, reason: str, read: bool) -> CycleReport:
        site, book = self.site, self.site.book
        t_start = time.monotonic()
        if read or not self._started:
            readings = await self.fanout.read_all(site.drivers, self.read_deadline_s)
            book.observe(readings)
            self._last_read_mono = time.monotonic()
            read = True
        t_read = time.monotonic()
        now = self.clock()
        if not self._started:
            book.adopt_observed()
            self._started = True
        cfg = site.config
        max_age = cfg.max_reading_age_s
        fresh = book.fresh(now, max_age)
        site.thermal.update(now, fresh=fresh, state=book.state, temp_c=book.temp_c,
                            running_w=book.profile_w)  # fmt: skip
        book.cap_w = site.thermal.cap_w
        budget = site.budget(now)
        grace = site.tuning.grace_for(site.period_s)
        view = book.view(now, max_age_s=max_age, grace_s=grace, boot_s=site.boot_s)
        dt = site.period_s if self._last_plan_at is None else max(0.0, now - self._last_plan_at)
        if self.emergency:
            p = emergency_plan(view.fleet, catalog=site.catalog, config=site.planner_config)
            orders = book.emergency_orders(view)
        else:
            p = plan(view.fleet, budget.miner_w, catalog=site.catalog,
                     config=site.planner_config, dt_s=dt, wake_budget_w=budget.wake_w)  # fmt: skip
            orders = book.orders(p, view, now, grace)
        self._last_plan_at = now
        t_plan = time.monotonic()
        signal = self._signal(reason, budget, p)
        failed = await self._send(orders, p, signal, now)
        t_end = time.monotonic()

        # meter loop: learn only when nothing was in flight for a while
        settled = not orders and t_end - self._last_send_mono > max(grace, site.tuning.response_s)
        site.learn_meter(now, p.current_w, settled)
        self.last_plan, self.last_view, self.last_budget = p, view, budget
        self._update_stats(now, budget, p, view, t_end - t_start,
                           t_read - t_start, t_plan - t_read, t_end - t_plan)  # fmt: skip
        self.account(self.clock())
        self._write_sample(self.clock())
        report = CycleReport(reason, now, read, budget, p, len(orders), failed, t_end - t_start)
        self.last_cycle = report
        self.first_cycle_done.set()
        return report

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

    async def _send(self, orders: list[Order], p: Plan, signal: Signal, now: float) -> int:
        if not orders:
            return 0
        site, book = self.site, self.site.book
        by_host = {site.drivers[o.rig].host: o for o in orders}
        book.sent_all(orders, now)
        self._last_send_mono = time.monotonic()
        self._cycle_orders += len(orders)
        failed = 0
        plan_id = f"{self.name}@{now:.3f}"

        done: list[tuple[Order, ApplyResult]] = []

        def on_result(res: ApplyResult) -> None:
            nonlocal failed
            o = by_host[res.host]
            book.result(o, res, float(p.target_w[o.rig]))
            kind = o.target.kind.value
            self.stats.commands[(kind, "ok" if res.ok else "failed")] += 1
            self._interval.commands[kind] += 1
            if o.why == "drift: re-sleep":
                self.stats.drift_resleeps += 1
            elif o.why == "retry":
                self.stats.retries += 1
            if not res.ok:
                failed += 1
            done.append((o, res))

        jobs = [(site.drivers[o.rig], o.target) for o in orders]
        await self.fanout.apply_all(jobs, batch_size=site.config.command_batch_size,
                                    on_result=on_result)  # fmt: skip
        self.stats.last_commands_done_at = self.clock()
        # the paperwork after the commands: a shed is not slowed by writing its records;
        # each record carries the moment its outcome was known (`at`)
        if self.audit is not None:
            for o, res in done:
                self.audit.command(
                    self.name, res, signal, plan_id=plan_id, why=o.why, at=round(res.at, 3),
                    plan_command=o.command.name.lower(),
                    target_w=round(float(p.target_w[o.rig]), 1),
                    hold_broken=bool(p.hold_broken[o.rig]), detail=res.detail,
                )  # fmt: skip
            self.audit.tick()
        self._last_send_mono = time.monotonic()
        return failed

    def _update_stats(
        self, now: float, b: SiteBudget, p: Plan, view: StateView,
        total_s: float, read_s: float, plan_s: float, send_s: float,
    ) -> None:  # fmt: skip
        st, book = self.stats, self.site.book
        st.cycles += 1
        st.last_cycle_s, st.last_read_s, st.last_plan_s, st.last_send_s = (
            total_s, read_s, plan_s, send_s,
        )
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
        }  # fmt: skip

    def rigs(self) -> list[dict[str, Any]]:
        book, now = self.site.book, self.clock()
        fresh = book.fresh(now, self.site.config.max_reading_age_s)
        out = []
        for i, spec in enumerate(self.site.specs):
            out.append({
                "host": spec.host, "name": spec.name, "model": spec.model,
                "firmware": spec.firmware.value, "fresh": bool(fresh[i]),
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
