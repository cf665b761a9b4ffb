"""Planner benchmark: plan time for 10k / 100k / 600k rigs, hashrate against the LP optimum.

    .venv/bin/python benchmarks/fleetd_planner.py [--repeat N] [--lp-rigs N]

Goals: 600,000 rigs (2,000 MW at ~3.5 kW each) planned in < 1 s; hashrate within 2 % of
the optimum of the LP relaxation (an upper bound; tests/fleetd/planner_support.py) on a
mixed fleet.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' LP, as they use it

from fleetd.models import DEFAULT_CATALOG, Firmware, ModelCatalog
from fleetd.planner import FleetState, PlannerConfig, RigState, plan
from tests.fleetd.planner_support import lp_optimum

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
        opt, _ = lp_optimum(fleet, budget, cat, exact)
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
