"""Planner benchmark: plan time for 10k / 100k / 600k rigs, hashrate against the LP optimum.

    .venv/bin/python benchmarks/fleetd_planner.py [--repeat N] [--lp-rigs N]

Goals: 600,000 rigs (2,000 MW at ~3.5 kW each) planned in < 1 s; hashrate within 2 % of
the optimum of the LP relaxation (an upper bound) on a mixed fleet.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from fleetd.models import DEFAULT_CATALOG, Firmware, ModelCatalog
from fleetd.planner import FleetState, PlannerConfig, RigState, plan

PLAN_GOAL_S = {10_000: None, 100_000: None, 600_000: 1.0}
OPT_GOAL = 0.98


def mixed_fleet(rng: np.random.Generator, n: int, catalog: ModelCatalog) -> FleetState:
    """Every model and firmware; half up, some held, 3 % derated, 1 % unreachable."""
    model = rng.integers(0, len(catalog), n)
    fw = rng.integers(0, len(Firmware), n)
    up = rng.random(n) < 0.5
    state = np.where(up, RigState.HASHING, RigState.SLEEPING)
    state[rng.random(n) < 0.01] = RigState.UNREACHABLE
    target = np.where(up, catalog.nameplate_w[model], np.nan)
    derate = rng.uniform(0.5, 1.0, n) * catalog.nameplate_w[model]
    cap = np.where(rng.random(n) < 0.03, derate, np.inf)
    since = np.where(rng.random(n) < 0.1, rng.uniform(0, 300, n), np.inf)
    return FleetState.create(
        model, firmware=fw, state=state, target_w=target, cap_w=cap, since_s=since
    )


def lp_optimum(fleet: FleetState, budget: float, catalog: ModelCatalog) -> float:
    """Max TH/s of the LP relaxation (fractional wake and steps, steps in chain order)."""
    cost, power, bounds, rows, cols = [], [], [], [], []
    fixed = 0.0
    awake = np.isin(fleet.state, (RigState.HASHING, RigState.BOOTING, RigState.DERATED))
    for i in range(len(fleet)):
        m = catalog.models[fleet.model[i]]
        if fleet.state[i] == RigState.UNREACHABLE:
            fixed += np.nanmax([m.nameplate_w, fleet.target_w[i], fleet.reported_w[i]])
            continue
        fixed += m.sleep_w
        pts = m.points(Firmware(int(fleet.firmware[i])))
        w = np.array([p.watts for p in pts])
        h = np.array([p.ths for p in pts])
        cap = fleet.cap_w[i]
        if fleet.firmware[i] == Firmware.CONTINUOUS and w[0] <= cap < w[-1]:
            keep = w <= cap
            w, h = np.append(w[keep], cap), np.append(h[keep], m.ths_at(cap))
        else:
            w, h = w[w <= cap], h[w <= cap]
        if w.size == 0:
            continue
        held_on = awake[i] and fleet.since_s[i] < 600
        held_off = not awake[i] and fleet.since_s[i] < 300
        dw = np.diff(np.concatenate([[m.sleep_w], w]))
        dh = np.diff(np.concatenate([[0.0], h]))
        first = len(cost)
        for j in range(w.size):
            cost.append(-dh[j])
            power.append(dw[j])
            if j == 0:
                bounds.append((1, 1) if held_on else (0, 0) if held_off else (0, 1))
            else:
                bounds.append((0, 0) if held_off else (0, 1))
                rows.append(len(rows))
                cols.append((first + j, first + j - 1))
    n_con = len(rows)
    a_order = sparse.csr_matrix(
        ([1.0, -1.0] * n_con, ([r for r in rows for _ in (0, 1)], [c for p in cols for c in p])),
        shape=(n_con, len(cost)),
    )
    a_ub = sparse.vstack([sparse.csr_matrix(np.array(power)[None, :]), a_order])
    b_ub = np.concatenate([[budget - fixed], np.zeros(n_con)])
    res = linprog(np.array(cost), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    return float(-res.fun)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lp-rigs", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    cat = DEFAULT_CATALOG
    times: dict[int, float] = {}
    print(f"{'rigs':>8} {'plan s (median)':>16} {'goal s':>8} {'goal/actual':>12}  commands")
    for n, goal in PLAN_GOAL_S.items():
        fleet = mixed_fleet(rng, n, cat)
        budget = 0.6 * cat.nameplate_w[fleet.model].sum()
        plan(fleet, budget)  # warm caches
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            p = plan(fleet, budget)
            runs.append(time.perf_counter() - t0)
        times[n] = statistics.median(runs)
        assert p.total_w <= budget + 1e-6
        goal_txt = f"{goal:8.2f}" if goal else f"{'-':>8}"
        ratio = f"{goal / times[n]:12.1f}" if goal else f"{'-':>12}"
        print(f"{n:>8} {times[n]:16.3f} {goal_txt} {ratio}  {p.counts()}")

    fleet = mixed_fleet(rng, args.lp_rigs, cat)
    exact = PlannerConfig(hysteresis=0.0)
    print(f"\nhashrate vs LP optimum ({args.lp_rigs} rigs, mixed firmware; goal >= {OPT_GOAL})")
    print(f"{'budget share':>12} {'planner TH/s':>14} {'LP TH/s':>14} {'ratio':>8} {'lp s':>6}")
    worst = 1.0
    for share in (0.2, 0.4, 0.6, 0.8, 1.0):
        budget = share * cat.nameplate_w[fleet.model].sum()
        p = plan(fleet, budget, config=exact)
        t0 = time.perf_counter()
        opt = lp_optimum(fleet, budget, cat)
        lp_s = time.perf_counter() - t0
        ratio = p.total_ths / opt
        worst = min(worst, ratio)
        print(f"{share:12.1f} {p.total_ths:14.1f} {opt:14.1f} {ratio:8.5f} {lp_s:6.2f}")
    print(
        f"fleetd_planner: plan_10k_s={times[10_000]:.4f} plan_100k_s={times[100_000]:.4f} "
        f"plan_600k_s={times[600_000]:.4f} hashrate_vs_opt={worst:.5f}"
    )


if __name__ == "__main__":
    main()
