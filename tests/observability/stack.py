"""The whole site on loopback, as the demo runs it, with a real Prometheus scraping it.

- the pool: PoolApp on the embedded devnet chain (pool mode, SQLite ledger), serving
  /metrics and the JSON stats API itself from its `[metrics]` and `[stats_api]` sections;
- rigsim: configs/fleet-small.toml on a free loopback block, every rig serving the LuxOS
  API and mining through the pool (rigsim.miner) at a rate that follows its simulated
  hashrate and its state (a sleeping rig mines nothing);
- fleetd: the daemon controlling both sites through pyasic, one site's allotment from a
  live HTTP feed (so the feed's age is real), its site meters read from Prometheus
  (rigsim's meter, as in the demo), serving /metrics itself from `[metrics] listen`;
- Prometheus (Debian's package) scraping the three /metrics endpoints every second.

The truth recorder samples rigsim's arrays every 50 ms, independently of any metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from fleetd.config import parse_config as parse_fleetd_config
from fleetd.control.site import ControlTuning
from fleetd.daemon import Fleetd
from pool.app import PoolApp
from pool.config import parse as parse_pool_config
from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from rigsim.metrics import STATES, RigsimMetrics
from rigsim.miner import Miner
from rigsim.runner import FleetRunner
from tests.components.prometheus import PrometheusServer, free_port

ROOT = Path(__file__).resolve().parents[2]
FLEET_FILE = ROOT / "configs" / "fleet-small.toml"
SHIPPED_PROMETHEUS = ROOT / "configs" / "prometheus.yml"

POOL_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ACCOUNT = "obs"
H_PER_THS = 100.0  # real hashes per second for each simulated TH/s
BLOCK_DIFFICULTY = "0.0001"  # the fleet (~120 kH/s) finds a block every ~4 s
SITE_ALLOTMENT_MW = {"test": 0.0125, "hot": 0.021}
SITE_PUE = {"test": 1.1, "hot": 1.4}  # as in fleet-small.toml
JOBS = {"pool": "surplus-pool", "fleetd": "surplus-fleetd", "rigsim": "surplus-rigsim"}


@dataclass
class Truth:
    """rigsim's own figures, sampled on the event loop every `every_s`."""

    t: list[float] = field(default_factory=list)
    true_w: list[dict[str, float]] = field(default_factory=list)
    meter_w: list[dict[str, float]] = field(default_factory=list)
    ths: list[dict[str, float]] = field(default_factory=list)
    states: list[dict[str, dict[str, int]]] = field(default_factory=list)  # site -> state -> n
    hashes: list[int] = field(default_factory=list)  # hashes the miners did, in total

    def window(self, key: str, site: str, t0: float, t1: float) -> list[float]:
        series = getattr(self, key)
        return [row[site] for t, row in zip(self.t, series, strict=True) if t0 <= t <= t1]


@dataclass
class Stack:
    tmp: Path
    prometheus: PrometheusServer
    app: PoolApp
    fleet: Fleet
    runner: FleetRunner
    rigsim_metrics: RigsimMetrics
    miners: dict[int, Miner]
    fleetd: Fleetd
    ports: dict[str, int]
    truth: Truth
    feed: dict[str, Any]
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    miners_follow_rigs: bool = True
    started: float = field(default_factory=time.time)

    def metrics_url(self, component: str) -> str:
        return f"http://127.0.0.1:{self.ports[component]}/metrics"

    @property
    def stats_url(self) -> str:
        assert self.app.stats_url is not None, "the pool serves no stats API"
        return self.app.stats_url


def prometheus_scrape_configs(ports: dict[str, int]) -> list[dict[str, Any]]:
    """The shipped configs/prometheus.yml with each job pointed at this stack's port."""
    import yaml

    shipped = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
    by_job = {v: k for k, v in JOBS.items()}
    out = []
    for job in shipped["scrape_configs"]:
        component = by_job[job["job_name"]]
        job = {**job, "static_configs": [
            {**sc, "targets": [f"127.0.0.1:{ports[component]}"]} for sc in job["static_configs"]
        ]}  # fmt: skip
        out.append(job)
    return out


def pool_config(tmp: Path, metrics_port: int) -> Any:
    return parse_pool_config({
        "mode": "pool", "network": "regtest", "payout_address": POOL_ADDRESS,
        "coinbase_tag": "/surplus-obs/",
        "node": {"devnet": True, "difficulty": BLOCK_DIFFICULTY, "poll_interval": 0.05,
                 "longpoll": False, "mempool_txs": 4},
        "stratum": {"host": "127.0.0.1", "port": 0,
                    "vardiff": {"initial": 2.0**-19, "minimum": 2.0**-30,
                                "target_interval": 1.0, "retarget_time": 4.0}},
        "ledger": {"backend": "sqlite", "path": str(tmp / "ledger.sqlite3"),
                   "sqlite_synchronous": "NORMAL"},
        "accounts": {ACCOUNT: POOL_ADDRESS},  # the miners mine to one listed account
        "metrics": {"listen": f"127.0.0.1:{metrics_port}", "top_workers": 50,
                    "worker_window_s": 30.0},
        "stats_api": {"listen": "127.0.0.1:0"},
    }, "<observability stack>")  # fmt: skip


def fleetd_config(
    fleet: Fleet, prometheus_url: str, feed_url: str, tmp: Path, metrics_port: int
) -> Any:
    sites: dict[str, Any] = {}
    for site in fleet.site_names:
        rigs = [{"host": r.address, "model": r.model.key, "firmware": "luxos"}
                for r in fleet.rigs_at_site(site)]  # fmt: skip
        allotment: list[dict[str, Any]] = [
            {"kind": "constant", "name": "licence", "mw": SITE_ALLOTMENT_MW[site] * 2},
        ]
        if site == "test":
            allotment.insert(0, {"kind": "http_json", "name": "grid", "url": feed_url,
                                 "interval_s": 0.5, "stale_after_s": 20.0,
                                 "floor_mw": SITE_ALLOTMENT_MW[site] / 2})  # fmt: skip
        else:
            allotment.insert(0, {"kind": "constant", "name": "grid",
                                 "mw": SITE_ALLOTMENT_MW[site]})  # fmt: skip
        sites[site] = {
            "control_period_s": 1.0, "min_awake_s": 4.0, "min_asleep_s": 3.0,
            "hysteresis": 0.01, "margin_kw": 0.3, "command_batch_size": 16,
            "allotment": allotment, "overhead": {"pue": SITE_PUE[site]},
            "meter": {"kind": "prometheus", "url": prometheus_url,
                      "query": f'surplus_rigsim_site_meter_watts{{site="{site}"}}',
                      "unit": "W", "interval_s": 1.0, "stale_after_s": 10.0},
            "rigs": rigs,
        }  # fmt: skip
    return parse_fleetd_config({
        "drivers": {"read_timeout_s": 1.0, "command_timeout_s": 3.0, "read_retries": 0,
                    "command_retries": 1, "concurrency": 32, "read_deadline_s": 2.0},
        "audit": {"path": str(tmp / "audit.jsonl")},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "sites": sites,
    })  # fmt: skip


def site_states(fleet: Fleet) -> dict[str, dict[str, int]]:
    """Rigs by physical state per site, straight from the physics arrays."""
    out: dict[str, dict[str, int]] = {s: dict.fromkeys(STATES, 0) for s in fleet.site_names}
    for rig in fleet.rigs:
        out[rig.site][rig.state.name.lower()] += 1
    return out


async def _follow_rigs(stack: Stack) -> None:
    """Each miner mines at its rig's simulated hashrate, and not at all while it sleeps."""
    while True:
        for i, miner in stack.miners.items():
            rig = stack.fleet.rigs[i]
            if not stack.miners_follow_rigs:
                continue
            if rig.is_hashing:
                miner.hashrate = max(rig.hashrate_ths * H_PER_THS, 1.0)
                if miner.paused:
                    miner.resume()
            elif not miner.paused:
                miner.pause()
        await asyncio.sleep(0.2)


async def _record(stack: Stack, every_s: float = 0.05) -> None:
    fleet, truth = stack.fleet, stack.truth
    while True:
        truth.t.append(time.time())
        truth.true_w.append(fleet.site_true_w())
        truth.meter_w.append(fleet.site_meter_w())
        truth.ths.append(fleet.site_hashrate_ths())
        truth.states.append(site_states(fleet))
        truth.hashes.append(sum(m.stats.hashes for m in stack.miners.values()))
        await asyncio.sleep(every_s)


async def _feed_server(feed: dict[str, Any], port: int) -> web.AppRunner:
    async def allotment(request: web.Request) -> web.Response:
        return web.json_response({"mw": feed["mw"], "as_of": time.time(), "id": feed["id"]})

    app = web.Application()
    app.router.add_get("/allotment", allotment)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@contextlib.asynccontextmanager
async def running_stack(tmp: Path) -> AsyncIterator[Stack]:
    ports = {"pool": free_port(), "fleetd": free_port(), "rigsim": free_port()}
    feed_port = free_port()
    prometheus = PrometheusServer(prometheus_scrape_configs(ports), scrape_interval="1s")
    await asyncio.to_thread(prometheus.start)
    cleanups: list[Any] = [lambda: asyncio.to_thread(prometheus.stop)]
    stack: Stack | None = None
    try:
        # the pool, serving /metrics and the stats API itself
        app = PoolApp(pool_config(tmp, ports["pool"]))
        await app.start()
        cleanups.append(lambda: app.stop(reconnect=False))
        assert app.metrics_url == f"http://127.0.0.1:{ports['pool']}/metrics"

        # rigsim
        cfg = load_fleet_config(FLEET_FILE)
        cfg = rebase(cfg, free_loopback_base(cfg.total_rigs))
        fleet = Fleet(cfg, source=str(FLEET_FILE))
        runner = FleetRunner(fleet)
        await runner.start()
        cleanups.append(runner.stop)
        rigsim_metrics = RigsimMetrics(fleet)
        await rigsim_metrics.serve("127.0.0.1", ports["rigsim"])
        cleanups.append(rigsim_metrics.close)
        host, port = app.stratum_address
        miners = {
            i: Miner(host, port, f"{ACCOUNT}.{rig.name}", hashrate=1.0, version_rolling=i % 2 == 0)
            for i, rig in enumerate(fleet.rigs)
        }
        for miner in miners.values():
            miner.pause()
            miner.start()

        async def stop_miners() -> None:
            await asyncio.gather(*(m.stop() for m in miners.values()))

        cleanups.append(stop_miners)

        # fleetd
        feed = {"mw": SITE_ALLOTMENT_MW["test"], "id": "grid-1"}
        feed_runner = await _feed_server(feed, feed_port)
        cleanups.append(feed_runner.cleanup)
        fd_cfg = fleetd_config(fleet, prometheus.url, f"http://127.0.0.1:{feed_port}/allotment",
                               tmp, ports["fleetd"])  # fmt: skip
        tuning = ControlTuning(response_s=0.6, watch_s=0.1)
        fd = Fleetd(fd_cfg, tuning=tuning, serve_api=False)
        await fd.start(first_cycle_timeout_s=30.0)
        cleanups.append(fd.stop)
        assert fd.metrics_url == f"http://127.0.0.1:{ports['fleetd']}/metrics"

        stack = Stack(tmp, prometheus, app, fleet, runner, rigsim_metrics, miners, fd, ports,
                      Truth(), feed)  # fmt: skip
        stack.tasks = [asyncio.create_task(_follow_rigs(stack)),
                       asyncio.create_task(_record(stack))]  # fmt: skip
        await asyncio.to_thread(prometheus.wait_for_targets, 3, 30.0)
        yield stack
    finally:
        for task in stack.tasks if stack is not None else ():
            task.cancel()
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                await cleanup()
