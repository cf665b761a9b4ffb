"""Response times in a plan: no reduction counted before it lands, the fastest shed first.

A rig's draw falls to a lower target only `response_s` after the command's answer (a
LuxOS profile step in seconds, a Braiins OS autotuner in tens of seconds), while a raise
is counted at once (it may ramp up at any speed). So a plan from fleetd.planner.core,
which treats every change as done, is made safe at every instant here:

- **a cut** (the rigs count for more than the budget now): the plan sheds only the rigs
  that respond fastest, the smallest set of response times whose rigs can meet the
  budget on their own; slower rigs keep what they run (counted at it), so the site is
  under the cap after the fastest response, not the slowest. Later plans move the load
  to the most efficient rigs once the cut is met (a swap, below);
- **raises waiting for sheds** (a swap: a rig turned down so a better one may go up):
  raises and wakes go ahead only into the room left with every shed of this plan still
  counted at what the rig draws now (best TH/s per extra watt first); the rest wait, and
  a later plan makes them once the sheds have landed (the controller counts a shed rig
  at its old draw until its response time has passed: fleetd.control.book).

With every response time 0 a plan is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from fleetd.models import Firmware, ModelCatalog
from fleetd.planner.fleet import FleetState, RigState
from fleetd.planner.plan import Command, Plan

PlanNow = Callable[[FleetState], Plan]
SLACK_W = 0.5  # a change smaller than this is no change (targets are whole watts)


def _awake(state: np.ndarray) -> np.ndarray:
    out: np.ndarray = (state == RigState.HASHING) | (state == RigState.BOOTING) | (
        state == RigState.DERATED)
    return out


def current_w(fleet: FleetState, catalog: ModelCatalog, plan: Plan) -> np.ndarray:
    """What each rig counts for now, before the plan: a planned rig its target (its top
    point when unknown) awake or its sleep draw, an unplanned one what the plan counts."""
    known = fleet.model >= 0
    mid = np.where(known, fleet.model, 0)
    table = mid * len(Firmware) + fleet.firmware.astype(np.intp)
    top = catalog.tables.watts[table, -1]
    up = np.where(np.isnan(fleet.target_w), top, fleet.target_w)
    now = np.where(_awake(fleet.state), up, catalog.sleep_w[mid])
    out: np.ndarray = np.where(plan.planned, now, plan.power_w)
    return out


def _point_at(
    fleet: FleetState, catalog: ModelCatalog, rigs: np.ndarray, watts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(TH/s, profile index or -1) of rigs running at `watts` on their point sets: read
    off the curve for continuous firmware, the point at or below for profiles and modes,
    0 TH/s below the lowest point (asleep)."""
    tables = catalog.tables
    mid = np.maximum(fleet.model[rigs], 0)
    table = mid * len(Firmware) + fleet.firmware[rigs].astype(np.intp)
    tw, th = tables.watts[table], tables.ths[table]
    width = tw.shape[1]
    k = (tw <= watts[:, None] + SLACK_W).sum(axis=1)
    lo = np.clip(k - 1, 0, width - 1)
    hi = np.clip(k, 0, width - 1)
    r = np.arange(rigs.size)
    w0, w1, h0, h1 = tw[r, lo], tw[r, hi], th[r, lo], th[r, hi]
    div = tables.divisible[table]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(div & (w1 > w0), np.clip((watts - w0) / (w1 - w0), 0.0, 1.0), 0.0)
    ths = np.where(k == 0, 0.0, h0 + frac * (h1 - h0))
    profile = np.where((k == 0) | div, -1, tables.index[table, lo]).astype(np.int16)
    return ths, profile


def _keep(
    plan: Plan, fleet: FleetState, catalog: ModelCatalog, rigs: np.ndarray, now_w: np.ndarray
) -> Plan:
    """`plan` with `rigs` left as they are (KEEP, counted at what they run now)."""
    if rigs.size == 0:
        return plan
    awake_before = _awake(fleet.state)[rigs]
    ths, profile = _point_at(fleet, catalog, rigs, now_w[rigs])
    command, awake = plan.command.copy(), plan.awake.copy()
    target, power, hashrate = plan.target_w.copy(), plan.power_w.copy(), plan.hashrate_ths.copy()
    prof, planned, ready = plan.profile.copy(), plan.planned.copy(), plan.ready_in_s.copy()
    broken = plan.hold_broken.copy()
    unplanned_w = plan.unplanned_w - float(plan.power_w[rigs][~plan.planned[rigs]].sum())
    command[rigs] = Command.KEEP
    awake[rigs] = awake_before
    target[rigs] = now_w[rigs]
    power[rigs] = now_w[rigs]
    hashrate[rigs] = np.where(awake_before, ths, 0.0)
    prof[rigs] = np.where(awake_before, profile, -1)
    planned[rigs] = True
    ready[rigs] = 0.0
    broken[rigs] = False
    return replace(
        plan, command=command, awake=awake, target_w=target, power_w=power,
        hashrate_ths=hashrate, profile=prof, planned=planned, ready_in_s=ready,
        hold_broken=broken, total_w=float(power.sum()), total_ths=float(hashrate.sum()),
        unplanned_w=unplanned_w,
    )  # fmt: skip


def _fastest_cut(
    plan_now: PlanNow, fleet: FleetState, budget_w: float, now_w: np.ndarray, planned: np.ndarray
) -> tuple[Plan, np.ndarray] | None:
    """On a cut: the plan shedding only the rigs of the smallest response time that can
    meet the budget on their own (the slower ones frozen), and the frozen rigs; None when
    only the whole fleet can (the plan as it is)."""
    resp = fleet.response_s
    awake = planned & _awake(fleet.state)
    times = np.unique(resp[awake])
    for h in times[:-1]:
        frozen = planned & (resp > h)
        held = replace(
            fleet, stale=fleet.stale | frozen,
            counted_w=np.where(frozen, now_w, fleet.counted_w),
        )  # fmt: skip
        p = plan_now(held)
        if not p.infeasible and p.total_w <= budget_w * (1 + 1e-12) + 1e-6:
            return p, np.flatnonzero(frozen)
    return None


def _defer_raises(
    plan: Plan, fleet: FleetState, catalog: ModelCatalog, budget_w: float, now_w: np.ndarray
) -> Plan:
    """Raises and wakes only into the room left with every shed still counted at what the
    rig draws now (best TH/s per extra watt first); the others wait (KEEP)."""
    new = plan.power_w
    slow = fleet.response_s > 0
    shed = plan.planned & slow & (new < now_w - SLACK_W)
    up = plan.planned & (new > now_w + SLACK_W)
    if not up.any() or not shed.any():
        return plan
    base = float(np.where(shed | up, now_w, new).sum())
    room = budget_w - base
    idx = np.flatnonzero(up)
    extra = new[idx] - now_w[idx]
    ths_now, _ = _point_at(fleet, catalog, idx, now_w[idx])
    awake_now = _awake(fleet.state)[idx]
    gain = plan.hashrate_ths[idx] - np.where(awake_now, ths_now, 0.0)
    order = np.argsort(-(gain / extra), kind="stable")
    fits = np.cumsum(extra[order]) <= room + 1e-6
    wait = idx[order[~fits]]
    return _keep(plan, fleet, catalog, wait, now_w)


def with_response_times(
    plan_now: PlanNow,
    fleet: FleetState,
    budget_w: float,
    catalog: ModelCatalog,
) -> Plan:
    """The plan `plan_now(fleet)`, made safe at every instant for the rigs' response times
    (see the module's docstring)."""
    p = plan_now(fleet)
    if not np.any(fleet.response_s > 0):
        return p
    now_w = current_w(fleet, catalog, p)
    if float(now_w.sum()) > budget_w + 1e-6 and not p.infeasible:
        fast = _fastest_cut(plan_now, fleet, budget_w, now_w, p.planned)
        if fast is not None:
            cut, frozen = fast
            p = replace(_keep(cut, fleet, catalog, frozen, now_w), current_w=p.current_w)
    return _defer_raises(p, fleet, catalog, budget_w, now_w)
