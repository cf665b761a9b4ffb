"""Coordinator benchmark (issue 17): split a portfolio over 500 sites, and an emergency
stop reaching 50 fleetd daemons over HTTP.

    .venv/bin/python benchmarks/control.py [--sites 500] [--daemons 50] [--repeat 20]

- split_500_sites_ms: the bounds of 500 sites from their reports, then the split
  (coordinator.split), for each policy (pro rata, merit order, priorities); the median
  of `--repeat` runs of the slowest policy. Goal < 100 ms.
- estop_50_sites_s: the operator's POST /emergency-stop to a real coordinator
  (coordinator.daemon.ControlDaemon on loopback) until it answers, which is when each of
  50 fleetd daemons (fleetd.api.FleetdApi, each over its own site controller with one
  rigsim rig driven in process) has answered its own POST /sites/s/emergency-stop: the
  stop recorded in its audit log and its control loop woken. The worst of `--repeat`
  runs. Goal < 2 s.

Last line: `control: split_500_sites_ms=<n> estop_50_sites_s=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_SPLIT_MS = 100.0
GOAL_ESTOP_S = 2.0
TOKEN = "benchmark-token-0123456789"


def split_ms(n: int, repeat: int) -> float:
    from coordinator.split import POLICIES, SiteInput, SiteLimits, SiteReport, bounds, split

    rnd = random.Random(7)
    limits = [SiteLimits(rnd.uniform(1, 20), rnd.uniform(10, 120), rnd.uniform(0.5, 5), None)
              for _ in range(n)]  # fmt: skip
    reports = [SiteReport(lim.licence_mw * rnd.uniform(0.3, 1), lim.licence_mw * 0.3,
                          rnd.uniform(13, 35)) for lim in limits]  # fmt: skip
    portfolio = 0.7 * sum(r.draw_mw for r in reports)
    worst = 0.0
    for policy in POLICIES:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            inputs = []
            for k, (lim, rep) in enumerate(zip(limits, reports, strict=True)):
                lo, hi = bounds(lim, rep, rep.draw_mw, 5.0, 60.0)
                inputs.append(SiteInput(f"s{k}", lo, hi, lim.licence_mw, 1 + k % 4, rep.jth))
            result = split(portfolio, inputs, policy)
            times.append((time.perf_counter() - t0) * 1e3)
            assert result.total_mw <= portfolio + 1e-6 or result.shortfall_mw > 0
        med = statistics.median(times)
        print(f"{f'split {n} sites, {policy}':<34} {med:9.2f} ms (median of {repeat})")
        worst = max(worst, med)
    return worst


async def estop_s(daemons: int, repeat: int, tmp: Path) -> float:
    import aiohttp

    from coordinator.config import parse_config
    from coordinator.daemon import ControlDaemon
    from fleetd.allotment import ConstantSource, OverrideSource, SiteAllotment
    from fleetd.api import FleetdApi
    from fleetd.audit import AuditLog
    from fleetd.config import parse_config as fleetd_config
    from fleetd.control import SiteController
    from fleetd.control.site import Site
    from rigsim.fleet import Fleet
    from tests.components.process import free_port
    from tests.fleetd.fleetd_rigsim import InProcessDriver, fleet_config

    fleet = Fleet(fleet_config([("S19", daemons)]))
    apis, audits = [], []
    for i, rig in enumerate(fleet.rigs):
        cfg = fleetd_config({"sites": {"s": {
            "allotment": [{"kind": "constant", "mw": 1.0}],
            "rigs": [{"host": rig.address, "model": rig.model.key, "firmware": "luxos"}],
        }}})  # fmt: skip
        audit = AuditLog(tmp / f"audit-{i}.jsonl", fsync_every=1000, fsync_interval_s=5.0)
        site = Site("s", cfg.sites["s"], cfg.rigs("s"),
                    SiteAllotment([ConstantSource(1.0), OverrideSource()]),
                    [InProcessDriver(fleet, i)])  # fmt: skip
        api = FleetdApi({"s": SiteController(site, audit=audit)}, port=0, tokens={"ops": TOKEN})
        await api.start()
        apis.append(api)
        audits.append(audit)
    os.environ["BENCH_CONTROL_TOKEN"] = TOKEN
    key = tmp / "site.key"
    key.write_text("k" * 40)
    cfg = parse_config({
        "control": {"portfolio_mw": 10.0, "interval_s": 3600.0,
                    "state_file": str(tmp / "state.json"), "audit_path": str(tmp / "a.jsonl")},
        "api": {"listen": f"127.0.0.1:{free_port()}",
                "tokens": [{"name": "ops", "token_env": "BENCH_CONTROL_TOKEN"}]},
        "metrics": {"enabled": False},
        "sites": {f"site{i}": {"api_url": api.url, "site": "s", "token_env": "BENCH_CONTROL_TOKEN",
                               "key_file": str(key), "licence_mw": 1.0}
                  for i, api in enumerate(apis)},
    })  # fmt: skip
    worst = 0.0
    try:
        async with ControlDaemon(cfg) as daemon, aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            for _ in range(repeat):
                t0 = time.perf_counter()
                async with http.post(f"{daemon.url}/emergency-stop", json={"reason": "bench"},
                                     headers=auth) as r:  # fmt: skip
                    body = await r.json()
                took = time.perf_counter() - t0
                assert set(body["sites"].values()) == {"ok"}, body
                worst = max(worst, took)
                async with http.post(f"{daemon.url}/resume", json={}, headers=auth) as r:
                    await r.read()
            print(f"{f'emergency stop, {daemons} fleetd over HTTP':<34} {worst:9.3f} s "
                  f"(worst of {repeat})")  # fmt: skip
    finally:
        for api in apis:
            await api.stop()
        for a in audits:
            a.close()
    return worst


def _goal(actual: float, goal: float) -> str:
    return f"(goal <{goal:g}, goal/actual {goal / actual if actual > 0 else float('inf'):.1f})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sites", type=int, default=500)
    p.add_argument("--daemons", type=int, default=50)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    logging.disable(logging.WARNING)  # every stop and resume is logged; not what is measured
    split = split_ms(args.sites, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        estop = asyncio.run(estop_s(args.daemons, min(args.repeat, 5), Path(tmp)))
    print(f"control: split_{args.sites}_sites_ms={split:.2f} {_goal(split, GOAL_SPLIT_MS)} "
          f"estop_{args.daemons}_sites_s={estop:.3f} {_goal(estop, GOAL_ESTOP_S)}")  # fmt: skip


if __name__ == "__main__":
    main()
