"""Random fleets and an independent LP optimum for the planner tests.

The LP is written from the models' own point lists (not the planner's packed tables):
per rig, x = how far it is woken (sleep -> lowest running point) and y_j = how far it is
moved up step j, with y_1 <= x and y_j <= y_(j-1). Letting x and y be fractions relaxes
"sleep or run at one point", so the LP optimum bounds any plan from above.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from fleetd.models import Firmware, ModelCatalog
from fleetd.planner import FleetState, PlannerConfig, RigState

AWAKE = (RigState.HASHING, RigState.BOOTING, RigState.DERATED)


def rig_points(
    catalog: ModelCatalog, model_id: int, firmware: int, cap_w: float
) -> tuple[np.ndarray, np.ndarray]:
    """(watts, ths) a rig may run at under its cap; empty when it cannot run at all."""
    model = catalog.models[model_id]
    pts = model.points(Firmware(firmware))
    w = np.array([p.watts for p in pts])
    h = np.array([p.ths for p in pts])
    keep = w <= cap_w
    if firmware == Firmware.CONTINUOUS and keep.any() and not keep.all():
        return np.append(w[keep], cap_w), np.append(h[keep], model.ths_at(cap_w))
    return w[keep], h[keep]


def locks(fleet: FleetState, config: PlannerConfig) -> tuple[np.ndarray, np.ndarray]:
    """(held awake, held asleep) by the hold-time rules, before any cap-forced release."""
    awake = np.isin(fleet.state, AWAKE)
    return awake & (fleet.since_s < config.min_awake_s), ~awake & (
        fleet.since_s < config.min_asleep_s
    )


def planned_mask(fleet: FleetState) -> np.ndarray:
    return (fleet.model >= 0) & ~fleet.stale & (fleet.state != RigState.UNREACHABLE)


def unplanned_w(fleet: FleetState, catalog: ModelCatalog) -> float:
    total = 0.0
    for i in np.flatnonzero(~planned_mask(fleet)):
        m = fleet.model[i]
        plate = catalog.models[m].nameplate_w if m >= 0 else catalog.unknown_w
        total += np.nanmax([plate, fleet.target_w[i], fleet.reported_w[i]])
    return total


def lp_optimum(
    fleet: FleetState,
    budget_w: float,
    catalog: ModelCatalog,
    config: PlannerConfig,
    *,
    respect_holds: bool = True,
) -> tuple[float, float]:
    """(LP optimum TH/s, largest single-segment TH/s) for the fleet under the budget."""
    held_on, held_off = locks(fleet, config) if respect_holds else (None, None)
    cost, power, bounds, rows, cols, vals = [], [], [], [], [], []
    fixed = unplanned_w(fleet, catalog)
    biggest = 0.0
    n_con = 0
    for i in np.flatnonzero(planned_mask(fleet)):
        sleep = catalog.models[fleet.model[i]].sleep_w
        fixed += sleep
        w, h = rig_points(catalog, int(fleet.model[i]), int(fleet.firmware[i]), fleet.cap_w[i])
        if w.size == 0:
            continue
        dw = np.diff(np.concatenate([[sleep], w]))
        dh = np.diff(np.concatenate([[0.0], h]))
        biggest = max(biggest, float(dh.max()))
        on = respect_holds and held_on[i]
        off = respect_holds and held_off[i]
        first = len(cost)
        for j in range(w.size):
            cost.append(-dh[j])
            power.append(dw[j])
            if j == 0:
                bounds.append((1.0, 1.0) if on else (0.0, 0.0) if off else (0.0, 1.0))
            else:
                bounds.append((0.0, 0.0) if off else (0.0, 1.0))
                rows += [n_con, n_con]
                cols += [first + j, first + j - 1]
                vals += [1.0, -1.0]
                n_con += 1
    if not cost:
        return 0.0, 0.0
    order = sparse.csr_matrix((vals, (rows, cols)), shape=(n_con, len(cost)))
    a_ub = sparse.vstack([sparse.csr_matrix(np.array(power)[None, :]), order])
    b_ub = np.concatenate([[budget_w - fixed], np.zeros(n_con)])
    res = linprog(np.array(cost), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise AssertionError(f"LP failed: {res.message}")
    return float(-res.fun), biggest


def random_fleet(
    rng: np.random.Generator,
    n: int,
    catalog: ModelCatalog,
    *,
    firmware: tuple[int, ...] = (0, 1, 2),
    awake_share: float = 0.5,
    held_share: float = 0.0,
    capped_share: float = 0.1,
    unplanned_share: float = 0.0,
) -> FleetState:
    """A mixed fleet with valid current targets (awake rigs sit on one of their points)."""
    model = rng.integers(0, len(catalog), n)
    fw = rng.choice(np.array(firmware), n)
    awake = rng.random(n) < awake_share
    state = np.where(awake, RigState.HASHING, RigState.SLEEPING)
    state = np.where(awake & (rng.random(n) < 0.1), RigState.BOOTING, state)
    cap = np.where(
        rng.random(n) < capped_share, rng.uniform(0.25, 1.1, n) * catalog.nameplate_w[model], np.inf
    )
    target = np.full(n, np.nan)
    for i in np.flatnonzero(awake):
        w, _ = rig_points(catalog, int(model[i]), int(fw[i]), cap[i])
        if w.size == 0:
            cap[i] = np.inf
            w, _ = rig_points(catalog, int(model[i]), int(fw[i]), cap[i])
        target[i] = rng.uniform(w[0], w[-1]) if fw[i] == Firmware.CONTINUOUS else rng.choice(w)
    since = np.where(rng.random(n) < held_share, rng.uniform(0, 200, n), np.inf)
    unplanned = rng.random(n) < unplanned_share
    stale = unplanned & (rng.random(n) < 0.5)
    state = np.where(unplanned & ~stale, RigState.UNREACHABLE, state)
    return FleetState.create(
        model, firmware=fw, state=state, target_w=target, stale=stale, cap_w=cap, since_s=since
    )
