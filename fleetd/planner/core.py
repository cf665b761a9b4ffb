"""The planner: the most hashrate that fits the miners' power budget, as per-rig targets.

plan() works on whole arrays; nothing in it loops over rigs in Python. Its steps:

1. Rigs that are unreachable, stale or of an unknown model are not planned and count at
   nameplate (or their last target or reading if higher).
2. Each planned rig's operating points come from the catalog for its model and firmware,
   cut at its thermal cap (a continuous rig gets the cap itself as its top point).
3. Hold times lock rigs: one that woke recently stays up (it may still be turned down to
   its lowest point), one that slept recently stays down. If the locked load alone breaks
   the budget, locks are released worst J/TH first: the cap always wins over a hold.
4. The rest is water-filling (fleetd.planner.fill): sleep -> first running point is one
   all-or-nothing segment whose efficiency is the average over the jump (the point chosen
   is the one with the best average, so the non-convex jump is priced correctly), then
   steps up the curve. Best TH per W first, so the worst J/TH are the first shed and the
   best the first restored.
5. Ramp-up limit: the plan may not draw more than the current count plus the ramp-up rate
   times the period. Waking can be held to a lower `wake_budget_w` (a cap due to fall
   before a woken rig could have served its hold); the rest goes to rigs already up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetd.models import DEFAULT_CATALOG, Firmware, ModelCatalog
from fleetd.planner.config import DEFAULT_CONFIG, PlannerConfig
from fleetd.planner.fill import Chains, Groups, fill
from fleetd.planner.fleet import FleetState, RigState
from fleetd.planner.plan import Command, Plan
from fleetd.planner.timing import with_response_times


class PlanError(ValueError):
    """A planner argument is unusable (the message names it)."""


def _check_watts(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise PlanError(f"{name}: expected finite watts >= 0, got {value!r}")
    return v


def _awake(state: np.ndarray) -> np.ndarray:
    out: np.ndarray = (state == RigState.HASHING) | (state == RigState.BOOTING) | (
        state == RigState.DERATED)
    return out


def _counted_unplanned(fleet: FleetState, catalog: ModelCatalog) -> tuple[np.ndarray, np.ndarray]:
    """(planned mask, per-rig counted watts for the rigs not planned)."""
    known = fleet.model >= 0
    mid = np.where(known, fleet.model, 0)
    planned = known & ~fleet.stale & (fleet.state != RigState.UNREACHABLE)
    plate = np.where(known, catalog.nameplate_w[mid], catalog.unknown_w)
    # the highest of nameplate, last target and last reading: safety first (unless the
    # caller knows better, e.g. a rig not read yet whose share of the site meter is known)
    counted = np.fmax(np.fmax(plate, fleet.target_w), fleet.reported_w)
    counted = np.where(np.isnan(fleet.counted_w), counted, fleet.counted_w)
    return planned, counted


def plan(
    fleet: FleetState,
    budget_w: float,
    *,
    catalog: ModelCatalog = DEFAULT_CATALOG,
    config: PlannerConfig = DEFAULT_CONFIG,
    dt_s: float | None = None,
    wake_budget_w: float | None = None,
    validate: bool = True,
) -> Plan:
    """Plan every rig so that the site's miners draw at most `budget_w` watts.

    `dt_s` is the time since the previous plan (for the ramp-up limit; default
    config.period_s). `wake_budget_w`, if lower than the budget, bounds the load that may
    include newly woken rigs. Rigs with a response time (FleetState.response_s) are
    planned so that the budget holds at every instant (fleetd.planner.timing): no
    reduction is counted before it lands, and a cut sheds the fastest rigs first.
    Raises PlanError / FleetStateError on bad input.
    """
    budget = _check_watts("budget_w", budget_w)
    if validate:
        fleet.validate(len(catalog))

    def plan_now(f: FleetState) -> Plan:
        return _plan_now(f, budget, catalog=catalog, config=config, dt_s=dt_s,
                         wake_budget_w=wake_budget_w)  # fmt: skip

    return with_response_times(plan_now, fleet, budget, catalog)


def _plan_now(
    fleet: FleetState,
    budget: float,
    *,
    catalog: ModelCatalog,
    config: PlannerConfig,
    dt_s: float | None,
    wake_budget_w: float | None,
) -> Plan:
    """plan() as if every change took effect at once."""
    wake_budget = budget if wake_budget_w is None else _check_watts("wake_budget_w", wake_budget_w)
    dt = config.period_s if dt_s is None else float(dt_s)
    if not (math.isfinite(dt) and dt >= 0):
        raise PlanError(f"dt_s: expected seconds >= 0, got {dt_s!r}")

    n = len(fleet)
    tables = catalog.tables
    was_awake = _awake(fleet.state)
    planned, counted = _counted_unplanned(fleet, catalog)
    unplanned_w = float(counted[~planned].sum())

    # --- per planned rig: its table of points, cap, locks (1-D arrays only)
    idx = np.flatnonzero(planned)
    m = idx.size
    mid = fleet.model[idx].astype(np.intp)
    table = mid * len(Firmware) + fleet.firmware[idx].astype(np.intp)
    divisible = tables.divisible[table]
    w0, h0 = tables.watts[table, 0], tables.ths[table, 0]
    top_w = tables.watts[table, -1]
    sleep = catalog.sleep_w[mid]
    cap = fleet.cap_w[idx]
    capped = cap < top_w
    # continuous caps are floored to CAP_STEP_W so that derated rigs still share chains
    cap = np.where(capped & divisible, np.floor(cap / CAP_STEP_W) * CAP_STEP_W, cap)
    runnable = cap >= w0

    aw = was_awake[idx]
    tgt = fleet.target_w[idx]
    current = np.where(aw, np.where(np.isnan(tgt), top_w, tgt), sleep)
    current_w = unplanned_w + float(current.sum())
    age = fleet.since_s[idx]
    in_awake_hold = aw & (age < config.min_awake_s)
    lock_on = in_awake_hold & runnable
    lock_off = ~runnable | (~aw & (age < config.min_asleep_s))
    lock_w = np.where(lock_on, w0 - sleep, 0.0)
    fixed_w = unplanned_w + float(sleep.sum()) + float(lock_w.sum())
    if fixed_w > budget:  # safety first: break holds, worst J/TH first
        on = np.flatnonzero(lock_on)
        order = on[np.argsort(h0[on] / w0[on], kind="stable")]
        freed = np.cumsum(lock_w[order])
        r = min(int(np.searchsorted(freed, fixed_w - budget, side="left")) + 1, order.size)
        lock_on[order[:r]] = False
        fixed_w -= float(freed[r - 1]) if r else 0.0
    infeasible = fixed_w > budget * (1 + 1e-12) + 1e-6

    limit = budget
    up = config.ramp_up_w_per_s
    if math.isfinite(up):
        limit = min(budget, max(current_w + up * dt, fixed_w))
    down = config.ramp_down_w_per_s
    ramp_overridden = math.isfinite(down) and budget < current_w - down * dt - 1e-6
    wake_limit = min(limit, wake_budget)

    # --- chain types: identical rigs share one chain
    mode = np.where(lock_off, _OFF, np.where(lock_on, _ON, np.where(aw, _UP, _DOWN)))
    types = _ChainTypes.build(catalog, table, mode, cap, capped & ~lock_off, divisible, config)
    chains = types.chains
    groups = Groups.fresh(np.bincount(types.row_type, minlength=types.count))
    slack = 1e-9 * limit + 1e-6
    spent = fill(chains, groups, wake_limit - fixed_w - slack, rounds=config.residual_rounds)
    if limit > wake_limit:  # more for rigs already up, none for new wakes
        g_mode = types.mode[groups.type]
        up_groups = (g_mode == _ON) | ((g_mode != _OFF) & (groups.level >= 1))
        fill(chains, groups, limit - fixed_w - spent - slack, up_groups, config.residual_rounds)
    groups.drop_empty()

    # --- read the plan back per rig: within a chain type the rigs already running highest
    # get the highest levels (fewest commands); two stable 16-bit sorts are radix sorts
    row_order = _order_within_types(types.row_type, types.count, np.where(aw, current, 0.0))
    g_order = np.lexsort((-groups.frac, -groups.level, groups.type))
    level = np.empty(m, dtype=np.intp)
    part = np.empty(m)
    level[row_order] = np.repeat(groups.level[g_order], groups.count[g_order])
    part[row_order] = np.repeat(groups.frac[g_order], groups.count[g_order])
    t = types.row_type
    on_r = lock_on
    awake = on_r | ((mode != _OFF) & (level >= 1))
    width = types.watts.shape[1]
    point = np.clip(np.where(on_r, level, types.jstar[t] + level - 1), 0, width - 1)
    nxt = np.minimum(point + 1, width - 1)
    pw, nw = types.watts[t, point], types.watts[t, nxt]
    ph, nh = types.ths[t, point], types.ths[t, nxt]
    power = np.where(awake, pw + part * (nw - pw), sleep)
    ths = np.where(awake, ph + part * (nh - ph), 0.0)
    free_w = float((power - sleep)[awake].sum())
    _spend_leftover(
        types, sleep, mode, awake, point, power, ths,
        up_left=limit - slack - fixed_w - free_w,
        wake_left=wake_limit - slack - fixed_w - free_w,
        rounds=config.residual_rounds,
    )  # fmt: skip
    profile = np.where(awake & ~divisible, tables.index[table, point], -1)

    # --- commands
    cmd = np.full(m, Command.KEEP, dtype=np.int8)
    cmd[aw & ~awake] = Command.SLEEP
    cmd[~aw & awake] = Command.WAKE
    moved = ~(np.abs(power - tgt) <= 0.5)  # NaN target -> moved
    cmd[aw & awake & moved] = Command.SET
    boot = fleet.boot_s[idx]
    boot = np.where(np.isnan(boot), catalog.boot_s[mid], boot)
    booting = fleet.state[idx] == RigState.BOOTING
    ready = np.where(~aw & awake, boot, np.where(booting & awake, np.maximum(boot - age, 0.0), 0.0))
    hold_broken = in_awake_hold & ~awake

    out_cmd = np.zeros(n, dtype=np.int8)
    out_awake = was_awake.copy()
    out_target = np.full(n, np.nan)
    out_profile = np.full(n, -1, dtype=np.int16)
    out_power = np.where(planned, 0.0, counted)
    out_ths = np.zeros(n)
    out_ready = np.zeros(n)
    out_broken = np.zeros(n, dtype=bool)
    out_cmd[idx] = cmd
    out_awake[idx] = awake
    out_target[idx] = power
    out_profile[idx] = profile
    out_power[idx] = power
    out_ths[idx] = ths
    out_ready[idx] = ready
    out_broken[idx] = hold_broken
    return Plan(
        command=out_cmd,
        awake=out_awake,
        target_w=out_target,
        profile=out_profile,
        power_w=out_power,
        hashrate_ths=out_ths,
        planned=planned,
        ready_in_s=out_ready,
        hold_broken=out_broken,
        budget_w=budget,
        limit_w=limit,
        current_w=current_w,
        total_w=float(out_power.sum()),
        total_ths=float(out_ths.sum()),
        unplanned_w=unplanned_w,
        infeasible=bool(infeasible),
        ramp_limited=limit < budget,
        ramp_overridden=bool(ramp_overridden),
    )


def _spend_leftover(
    types: _ChainTypes,
    sleep: np.ndarray,
    mode: np.ndarray,
    awake: np.ndarray,
    point: np.ndarray,
    power: np.ndarray,
    ths: np.ndarray,
    *,
    up_left: float,
    wake_left: float,
    rounds: int,
) -> None:
    """Wake rigs left asleep into what the chains could not use, in place.

    A free rig's chain starts with the jump to its best *average* point; when that jump
    no longer fits, a lower point may (the non-convex part of the curve). Rigs that are
    up now may use the whole leftover, rigs asleep now only what the wake budget leaves.
    Each round wakes the one rig that adds the most hashrate.
    """
    cand = ((mode == _DOWN) | (mode == _UP)) & ~awake
    t = types.row_type
    for _ in range(rounds):
        if max(up_left, wake_left) <= 0 or not cand.any():
            return
        present = np.flatnonzero(np.bincount(t[cand], minlength=types.count))
        allow = np.where(types.mode[present] == _UP, up_left, wake_left)
        jump = types.watts[present] - types.sleep[present, None]
        gain = np.where(jump <= allow[:, None], types.ths[present], -np.inf)
        best_p = np.argmax(gain, axis=1)
        best_gain = gain[np.arange(present.size), best_p]
        k = int(np.argmax(best_gain))
        if not np.isfinite(best_gain[k]):
            return
        tb, p = present[k], int(best_p[k])
        r = int(np.argmax(cand & (t == tb)))
        cand[r] = False
        awake[r] = True
        point[r] = p
        power[r] = types.watts[tb, p]
        ths[r] = types.ths[tb, p]
        used = float(power[r] - sleep[r])
        up_left -= used
        wake_left -= used


def _order_within_types(row_type: np.ndarray, n_types: int, watts: np.ndarray) -> np.ndarray:
    """Rigs ordered by chain type, then by falling current watts (0.1 W resolution)."""
    q = np.clip(np.rint(np.nan_to_num(watts) * 10.0), 0, 65535).astype(np.uint16)
    by_watts = np.argsort(65535 - q, kind="stable")
    key = row_type[by_watts].astype(np.uint16 if n_types <= 65535 else np.intp)
    return by_watts[np.argsort(key, kind="stable")]


_DOWN, _UP, _ON, _OFF = 0, 1, 2, 3  # free asleep, free awake, held awake, held asleep
CAP_STEP_W = 10.0


@dataclass(frozen=True, slots=True)
class _ChainTypes:
    """The distinct chains of a fleet and which one each rig follows."""

    row_type: np.ndarray  # per planned rig
    mode: np.ndarray  # per type
    watts: np.ndarray  # (types, P) points after the cap
    ths: np.ndarray
    jstar: np.ndarray  # per type: first running point of a free rig
    sleep: np.ndarray  # per type: sleep watts
    chains: Chains

    @property
    def count(self) -> int:
        return int(self.mode.size)

    @classmethod
    def build(
        cls,
        catalog: ModelCatalog,
        table: np.ndarray,
        mode: np.ndarray,
        cap: np.ndarray,
        capped: np.ndarray,
        divisible: np.ndarray,
        config: PlannerConfig,
    ) -> _ChainTypes:
        tables = catalog.tables
        n_tables = tables.watts.shape[0]
        base = n_tables * 4
        row_type = table * 4 + mode
        t_table = np.arange(base) // 4
        t_mode = np.arange(base) % 4
        t_cap = np.full(base, np.inf)
        c = np.flatnonzero(capped)
        if c.size:  # capped rigs: one type per (table, mode, cap step or points under cap)
            within = np.minimum(
                (tables.watts[table[c]] <= cap[c, None]).sum(axis=1), tables.count[table[c]]
            )
            key = np.where(divisible[c], np.round(cap[c] / CAP_STEP_W).astype(np.int64), within)
            _, first, inv = np.unique(
                row_type[c].astype(np.int64) << 32 | key, return_index=True, return_inverse=True
            )
            row_type = row_type.copy()
            row_type[c] = base + inv
            t_table = np.concatenate([t_table, table[c[first]]])
            t_mode = np.concatenate([t_mode, mode[c[first]]])
            t_cap = np.concatenate([t_cap, cap[c[first]]])
        tw = tables.watts[t_table]
        th = tables.ths[t_table]
        div = tables.divisible[t_table]
        sleep = catalog.sleep_w[t_table // len(Firmware)]
        within = np.minimum((tw <= t_cap[:, None]).sum(axis=1), tables.count[t_table])
        cut = np.flatnonzero((within >= 1) & (within < tables.count[t_table]))
        if cut.size:
            _clip_to_cap(tw, th, cut, within[cut], t_cap[cut], div[cut])

        n_types, width = tw.shape
        rows = np.arange(n_types)
        free = (t_mode == _DOWN) | (t_mode == _UP)
        jstar = np.where(free, np.argmax(th / (tw - sleep[:, None]), axis=1), 0)
        dW = np.empty((n_types, width))
        dH = np.empty((n_types, width))
        dW[:, 0] = np.where(free, tw[rows, jstar] - sleep, 0.0)
        dH[:, 0] = np.where(free, th[rows, jstar], 0.0)
        dW[:, 1:] = tw[:, 1:] - tw[:, :-1]
        dH[:, 1:] = th[:, 1:] - th[:, :-1]
        dead = (np.arange(1, width)[None, :] <= jstar[:, None]) | (t_mode == _OFF)[:, None]
        dW[:, 1:][dead] = 0.0
        live = dW > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = np.where(live, dH / dW, np.inf)
        eff[:, 0] *= np.where(t_mode == _UP, 1.0 + config.hysteresis, 1.0)
        np.minimum.accumulate(eff, axis=1, out=eff)  # exact chain order despite rounding
        col = np.broadcast_to(np.arange(width), (n_types, width))[live]
        length = live.sum(axis=1)
        chains = Chains(
            eff=eff[live],
            dw=dW[live],
            atomic=(col == 0) | ~np.repeat(div, length),
            start=np.cumsum(length) - length,
            length=length,
        )
        return cls(row_type, t_mode, tw, th, jstar, sleep, chains)


def _clip_to_cap(
    W: np.ndarray,
    H: np.ndarray,
    rows: np.ndarray,
    within: np.ndarray,
    cap: np.ndarray,
    divisible: np.ndarray,
) -> None:
    """Cut rows' point sets at their caps, in place: points above repeat the last kept one;
    a continuous rig gets one more point at the cap itself, read off its curve."""
    width = W.shape[1]
    cols = np.arange(width)[None, :]
    last = np.minimum(cols, within[:, None] - 1)
    w_rows, h_rows = W[rows], H[rows]
    new_w = np.take_along_axis(w_rows, last, axis=1)
    new_h = np.take_along_axis(h_rows, last, axis=1)
    c = np.flatnonzero(divisible)
    if c.size:
        k = within[c]
        w0, w1 = w_rows[c, k - 1], w_rows[c, k]
        h0, h1 = h_rows[c, k - 1], h_rows[c, k]
        h_cap = h0 + (h1 - h0) * (cap[c] - w0) / (w1 - w0)
        beyond = cols >= k[:, None]
        new_w[c] = np.where(beyond, cap[c][:, None], new_w[c])
        new_h[c] = np.where(beyond, h_cap[:, None], new_h[c])
    W[rows] = new_w
    H[rows] = new_h


def emergency_plan(
    fleet: FleetState,
    *,
    catalog: ModelCatalog = DEFAULT_CATALOG,
    config: PlannerConfig = DEFAULT_CONFIG,
) -> Plan:
    """Every rig to sleep at once: no holds, no ramp, no budget. Unplanned rigs are told too
    (they may hear it) but keep counting at nameplate until they report asleep."""
    fleet.validate(len(catalog))
    n = len(fleet)
    planned, counted = _counted_unplanned(fleet, catalog)
    known = fleet.model >= 0
    mid = np.where(known, fleet.model, 0)
    sleep = np.where(known, catalog.sleep_w[mid], np.nan)
    power = np.where(planned, sleep, counted)
    tgt = fleet.target_w
    awake = _awake(fleet.state)
    up_w = np.where(np.isnan(tgt), catalog.max_w[mid], tgt)
    current = np.where(planned, np.where(awake, up_w, sleep), counted)
    total = float(power.sum())
    return Plan(
        command=np.full(n, Command.SLEEP, dtype=np.int8),
        awake=np.zeros(n, dtype=bool),
        target_w=sleep,
        profile=np.full(n, -1, dtype=np.int16),
        power_w=power,
        hashrate_ths=np.zeros(n),
        planned=planned,
        ready_in_s=np.zeros(n),
        hold_broken=awake & (fleet.since_s < config.min_awake_s),
        budget_w=0.0,
        limit_w=0.0,
        current_w=float(current.sum()),
        total_w=total,
        total_ths=0.0,
        unplanned_w=float(counted[~planned].sum()),
        infeasible=False,
        ramp_limited=False,
        ramp_overridden=False,
        emergency=True,
    )
