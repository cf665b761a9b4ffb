"""The daemons serve their own observability from config, with no wiring from outside:

- a PoolApp on the devnet with `[metrics]` and `[stats_api]` on port 0 serves /metrics
  (every hook wired: the devnet node's call latency, the fan-out, the validator, the
  ledger's commits, the per-worker accounting) and the stats API, and stops both with
  the pool;
- a taken port stops the pool's start-up with the key to change;
- the shipped configs and the defaults listen where configs/prometheus.yml scrapes;
- fleetd with `[metrics] listen` (its port replaced by a free one) serves /metrics for
  every site and rig, timed from its first control cycle, and stops it on the way out.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetd.config import MetricsConfig as FleetdMetricsConfig
from fleetd.config import load as load_fleetd
from fleetd.daemon import Fleetd
from pool.app import PoolApp, PoolStartupError
from pool.bitcoin.address import script_to_address
from pool.config import MetricsSection, PoolConfig, StatsApiSection, load
from pool.node.devnet import DevnetNode
from rigsim.config import MetricsSection as RigsimMetricsSection
from rigsim.fleet import Fleet
from rigsim.miner import Miner
from rigsim.runner import FleetRunner
from tests.fleetd.fleetd_rigsim import FAST_TUNING, fleet_config, fleetd_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
MINER = script_to_address(bytes.fromhex("0014" + "d2" * 20), "regtest")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, url
        return await resp.text()


async def get_json(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, url
        return await resp.json()


async def refused(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            await resp.read()
    except aiohttp.ClientConnectionError:
        return True
    return False


def devnet_config(**changes: object) -> PoolConfig:
    """configs/pool-devnet.toml (it has [metrics] and [stats_api]) on free ports, with a
    share every ~2**10 hashes."""
    overrides: dict[str, object] = {
        "stratum": {"port": 0, "vardiff": {"initial": 2.0**-22, "minimum": 2.0**-30}},
        "node": {"poll_interval": 0.05},
        "metrics": {"listen": "127.0.0.1:0"},
        "stats_api": {"listen": "127.0.0.1:0"},
    }
    return load(ROOT / "configs" / "pool-devnet.toml").with_overrides(**overrides | changes)


async def test_pool_serves_metrics_and_stats_api_from_its_config(tmp_path: Path) -> None:
    config = devnet_config(ledger={"path": str(tmp_path / "solo.sqlite3"), "scheme": "solo"})
    async with PoolApp(config) as app:
        assert isinstance(app.node, DevnetNode)  # timed in place: tests read its chain
        assert app.metrics_url is not None and app.stats_url is not None
        assert app.metrics_url.startswith("http://127.0.0.1:")
        miner = Miner("127.0.0.1", app.stratum_port, f"{MINER}.wired", hashrate=20_000)
        miner.start()
        try:
            deadline = time.monotonic() + 20
            while miner.stats.accepted < 5:
                assert time.monotonic() < deadline, "no accepted shares"
                await asyncio.sleep(0.05)
        finally:
            await miner.stop()
        accepted = app.stats.accepted
        metrics_url, stats_url = app.metrics_url, app.stats_url
        text = await get_text(metrics_url)
        summary = await get_json(f"{stats_url}/api/v1/pool")
        worker = await get_json(f"{stats_url}/api/v1/workers/{MINER}.wired")

        s = samples(text)
        assert all(name.startswith("surplus_pool_") for name, _ in s)
        # the devnet node's calls are timed (the first template came through it)
        gbt = (("endpoint", "devnet"), ("method", "getblocktemplate"))
        assert s[("surplus_pool_node_rpc_seconds_count", gbt)] >= 1
        assert s[("surplus_pool_node_rpc_calls_total", (*gbt, ("result", "ok")))] >= 1
        # the server is read at scrape time, its fan-outs and validator batches timed
        assert s[("surplus_pool_shares_total", (("result", "accepted"),))] == accepted >= 5
        assert s[("surplus_pool_fanout_seconds_count", (("trigger", "new_block"),))] >= 1
        assert s[("surplus_pool_validation_batch_shares_count", ())] >= 1
        # the ledger's group commits are timed
        assert s[("surplus_pool_ledger_commit_seconds_count", ())] >= 1
        # the per-worker accounting sits in front of the server's sink
        assert s[("surplus_pool_worker_hashrate_hashes_per_second",
                  (("worker", f"{MINER}.wired"),))] > 0  # fmt: skip
        assert summary["shares"]["accepted"] == accepted
        assert summary["height"] == app.stats.height and summary["workers"] == 1
        assert worker["accepted_shares"] == accepted

    assert app.metrics_url is None and app.stats_url is None
    assert await refused(metrics_url) and await refused(f"{stats_url}/api/v1/pool")
    assert "getblocktemplate" not in vars(app.node)  # the timing is undone with the pool


async def test_pool_without_the_sections_serves_nothing() -> None:
    async with PoolApp(devnet_config(metrics={"enabled": False}, stats_api=None)) as app:
        assert app.metrics_url is None and app.stats_url is None and app.metrics is None
        assert app.stats.height is not None


async def test_a_taken_port_names_the_key() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for section in ("metrics", "stats_api"):
            app = PoolApp(devnet_config(**{section: {"listen": f"127.0.0.1:{port}"}}))
            key = f"{section}.listen"
            with pytest.raises(PoolStartupError, match=f"^{key}: cannot listen on 127.0.0.1:"):
                await app.start()
            assert app.metrics_url is None and app.stats_url is None


async def test_fleetd_serves_its_metrics_from_its_config(tmp_path: Path) -> None:
    fleet = Fleet(fleet_config((("S19jPro", 3), ("S21", 2))))
    config = fleetd_config(fleet, {}, tmp_path)
    assert config.metrics.listen == "127.0.0.1:9102"  # the default: what prometheus.yml scrapes
    async with FleetRunner(fleet):
        fd = Fleetd(config, tuning=FAST_TUNING, serve_api=False, metrics_port=0)
        async with fd:
            url = fd.metrics_url
            assert url is not None and url.startswith("http://127.0.0.1:")
            assert not url.endswith(":9102/metrics")
            s = samples(await get_text(url))
        assert fd.metrics_url is None
        assert await refused(url)

    assert all(name.startswith("surplus_fleetd_") for name, _ in s)
    assert s[("surplus_fleetd_cycle_seconds_count", (("site", "s"),))] >= 1
    assert s[("surplus_fleetd_site_allotment_watts", (("site", "s"),))] > 0
    rigs = {dict(labels)["rig"] for name, labels in s
            if name == "surplus_fleetd_rig_power_watts"}  # fmt: skip
    assert rigs == {spec.name for spec in config.rigs("s")}


def test_shipped_configs_listen_where_prometheus_scrapes() -> None:
    import yaml

    shipped = yaml.safe_load((ROOT / "configs" / "prometheus.yml").read_text())
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
               for job in shipped["scrape_configs"]}  # fmt: skip
    assert targets["surplus-pool"] == ["127.0.0.1:9101"]
    assert targets["surplus-fleetd"] == ["127.0.0.1:9102"]
    assert targets["surplus-rigsim"] == ["127.0.0.1:9103"]
    assert (MetricsSection().listen, StatsApiSection().listen) == ("127.0.0.1:9101",
                                                                   "127.0.0.1:8101")
    assert FleetdMetricsConfig().listen == "127.0.0.1:9102"
    assert RigsimMetricsSection().listen == "127.0.0.1:9103"
    pools = sorted((ROOT / "configs").glob("pool-*.toml"))
    assert len(pools) == 5
    for path in pools:
        config = load(path)
        if config.stratum.processes != 1:  # a cluster: a metrics target per process
            assert config.metrics is not None and config.metrics.port == 9110, path
            assert config.stats_api is not None and config.stats_api.port == 8101, path
            continue
        assert config.metrics is not None and config.stats_api is not None, path
        assert config.metrics.listen == "127.0.0.1:9101", path
        assert config.stats_api.listen == "127.0.0.1:8101", path
    for path in sorted((ROOT / "configs").glob("fleetd-*.toml")):
        assert load_fleetd(path).metrics.listen == "127.0.0.1:9102", path
