"""The pure parts of the metrics: the worker book, difficulty buckets, config mapping, the
timed node, and the collectors on hand-built state (no network besides promtool)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetd.allotment.base import SourceStatus
from fleetd.control.stats import SiteStats
from fleetd.metrics import FleetdMetrics
from pool.config import MetricsSection
from pool.metrics.collector import DIFFICULTY_BUCKETS, _difficulty_buckets
from pool.metrics.registry import PoolMetrics
from pool.node.base import NodeRPCError
from pool.node.devnet import DevnetNode
from pool.stats_api import BadRequest, parse_limit
from pool.workers import HASHES_PER_DIFF1, WorkerBook
from tests.components.prometheus import check_metrics


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(exposition.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# ---------------------------------------------------------------------- worker book


def test_worker_hashrate_is_credited_difficulty_over_the_window() -> None:
    clock = Clock()
    book = WorkerBook(60.0, bucket_s=1.0, clock=clock)
    start = clock.t
    for k in range(120):  # one share of difficulty 2 per second for two minutes
        clock.t = start + k
        book.record("a.rig", 2.0)
    clock.t = start + 120
    view = book.view("a.rig")
    assert view is not None and view.accepted == 120 and view.difficulty_total == 240.0
    # the last 60 s hold 60 shares (k = 60..119): 120 difficulty over 60 s
    assert view.hashrate == pytest.approx(120 * HASHES_PER_DIFF1 / 60.0, rel=0.02)
    assert book.active() == 1


def test_a_young_worker_is_rated_over_its_life_not_the_whole_window() -> None:
    clock = Clock()
    book = WorkerBook(600.0, bucket_s=1.0, clock=clock)
    t0 = clock.t
    for k in range(10):
        clock.t = t0 + k
        book.record("young", 1.0)
    clock.t = t0 + 10
    assert book.view("young").hashrate == pytest.approx(10 * HASHES_PER_DIFF1 / 10.0)  # type: ignore[union-attr]


def test_top_workers_are_ordered_and_silent_workers_are_forgotten() -> None:
    clock = Clock()
    book = WorkerBook(10.0, bucket_s=1.0, forget_s=30.0, clock=clock)
    for worker, diff in (("slow", 1.0), ("fast", 8.0), ("mid", 3.0)):
        book.record(worker, diff)
    assert [v.worker for v in book.top(2)] == ["fast", "mid"]
    assert book.top(0) == []
    clock.t += 15  # outside the window: inactive, still known
    book.record("fast", 8.0)
    assert book.active() == 1 and len(book) == 3
    clock.t += 31  # past forget_s for everyone; the next record prunes
    book.record("new", 1.0)
    assert {v.worker for v in book.views()} == {"new"}


def test_difficulty_buckets_are_cumulative_with_an_inf_bucket() -> None:
    buckets, total = _difficulty_buckets([2.0**-20, 1.0, 1.0, 2.0**60])
    counts = dict(buckets)
    assert counts["+Inf"] == 4
    assert counts[repr(1.0)] == 3  # le=1 holds 2^-20 and both 1.0
    assert counts[repr(DIFFICULTY_BUCKETS[0])] == 0
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert total == pytest.approx(2.0**-20 + 2 + 2.0**60)


# ---------------------------------------------------------------------- config, node


def test_metrics_runs_with_the_pool_config_section() -> None:
    cfg = MetricsSection(listen="127.0.0.2:9101")
    assert (cfg.enabled, cfg.host, cfg.port, cfg.top_workers) == (True, "127.0.0.2", 9101, 50)
    assert PoolMetrics(cfg, process_metrics=False).config is cfg
    with pytest.raises(ValueError, match="top_workers"):
        MetricsSection(top_workers=-1)


async def test_timed_node_counts_calls_and_errors_by_kind() -> None:
    metrics = PoolMetrics(process_metrics=False)
    node = metrics.wrap_node(DevnetNode())
    assert await node.getblockcount() == 0
    with pytest.raises(NodeRPCError):
        await node.getblockhash(99)
    assert metrics.rpc_calls() == {
        ("getblockcount", "devnet"): (1, 0), ("getblockhash", "devnet"): (0, 1),
    }  # fmt: skip
    assert metrics.rpc_errors() == {("getblockhash", "devnet", "NodeRPCError"): 1}
    s = samples(metrics.exposition())
    key = (("endpoint", "devnet"), ("method", "getblockhash"), ("result", "error"))
    assert s[("surplus_pool_node_rpc_calls_total", key)] == 1
    assert s[("surplus_pool_node_rpc_seconds_count",
              (("endpoint", "devnet"), ("method", "getblockcount")))] == 1  # fmt: skip


def test_ledger_commit_hook_feeds_its_histograms() -> None:
    metrics = PoolMetrics(process_metrics=False)
    metrics.observe_ledger_commit(40, 0.002)
    metrics.observe_ledger_commit(2, 0.02)
    s = samples(metrics.exposition())
    assert s[("surplus_pool_ledger_commit_seconds_count", ())] == 2
    assert s[("surplus_pool_ledger_commit_shares_sum", ())] == 42


def test_limit_parameter_is_checked_with_a_named_error() -> None:
    assert parse_limit(None) is None and parse_limit("5") == 5
    for bad in ("0", "x", "100001"):
        with pytest.raises(BadRequest, match="limit"):
            parse_limit(bad)


# ---------------------------------------------------------------------- fleetd collector


@dataclass
class FakeAllotment:
    statuses: list[SourceStatus]

    def status(self, now: float) -> list[SourceStatus]:
        return self.statuses


@dataclass
class FakeSite:
    allotment: FakeAllotment
    meter: Any = None
    specs: list[Any] = field(default_factory=list)


@dataclass
class FakeController:
    """The surface fleetd.metrics reads of a SiteController, with odd readings."""

    name: str
    stats: SiteStats
    site: FakeSite
    rig_rows: list[dict[str, Any]]
    on_cycle: Callable[[Any], None] | None = None

    def rigs(self) -> list[dict[str, Any]]:
        return self.rig_rows

    def step(self, duration_s: float) -> None:
        """A plan step that took `duration_s`, reported as SiteController.step does."""
        if self.on_cycle is not None:
            self.on_cycle(SimpleNamespace(reason="period", duration_s=duration_s))


async def test_fleetd_collector_on_a_site_with_unreadable_rigs(promtool: None) -> None:
    stats = SiteStats("north", allotment_w=2e6, site_w=2.1e6, rigs_total=2,
                      rigs_by_state={"hashing": 1, "unreachable": 1})  # fmt: skip
    stats.commands[("sleep", "ok")] = 3
    allot = FakeAllotment([
        SourceStatus("grid", "http_json", 2.0, 100.0, 12.5, stale=True, errors=4,
                     state="stale", reason="grid: HTTP 503", failing_since=1_000_000.0 - 20.0),
        SourceStatus("licence", "constant", 5.0, 0.0, None, stale=False),
    ])  # fmt: skip
    rows = [
        {"host": "10.0.0.1", "name": "n1", "model": "S21", "firmware": "luxos", "fresh": True,
         "state": "hashing", "watts": 3400.0, "ths": 198.0, "temp_c": 71.0, "target_w": 3500.0,
         "thermal_cap_w": math.inf},
        {"host": "10.0.0.2", "name": "n2", "model": "S19", "firmware": "luxos", "fresh": False,
         "state": "unreachable", "watts": None, "ths": None, "temp_c": None, "target_w": None,
         "thermal_cap_w": math.inf},
    ]  # fmt: skip
    ctl = FakeController("north", stats, FakeSite(allot), rows)
    metrics = FleetdMetrics(clock=Clock())
    metrics.add_site(ctl)
    ctl.step(0.02)
    text = metrics.exposition()
    result = check_metrics(text)
    assert result.ok, result.output
    s = samples(text)
    site = (("site", "north"),)
    assert s[("surplus_fleetd_site_headroom_watts", site)] == pytest.approx(-1e5)
    assert s[("surplus_fleetd_site_rigs", (("site", "north"), ("state", "derated")))] == 0
    assert s[("surplus_fleetd_commands_total",
              (("kind", "sleep"), ("result", "ok"), ("site", "north")))] == 3  # fmt: skip
    assert s[("surplus_fleetd_commands_total",
              (("kind", "wake"), ("result", "failed"), ("site", "north")))] == 0  # fmt: skip
    grid = (("kind", "http_json"), ("site", "north"), ("source", "grid"))
    assert s[("surplus_fleetd_allotment_source_age_seconds", grid)] == 12.5
    assert s[("surplus_fleetd_allotment_source_stale", grid)] == 1
    assert s[("surplus_fleetd_allotment_source_errors_total", grid)] == 4
    assert s[("surplus_fleetd_allotment_source_failing_seconds", grid)] == pytest.approx(20.0)
    for state, value in (("ok", 0), ("failing", 0), ("stale", 1)):
        key = (*grid[:2], ("source", "grid"), ("state", state))
        assert s[("surplus_fleetd_allotment_source_state", key)] == value
    licence = (("kind", "constant"), ("site", "north"), ("source", "licence"))
    assert ("surplus_fleetd_allotment_source_age_seconds", licence) not in s  # no age known
    assert s[("surplus_fleetd_cycle_seconds_count", site)] == 1
    n1, n2 = (("rig", "n1"), ("site", "north")), (("rig", "n2"), ("site", "north"))
    assert s[("surplus_fleetd_rig_hashrate_hashes_per_second", n1)] == pytest.approx(198e12)
    assert ("surplus_fleetd_rig_power_watts", n2) not in s  # no reading: no sample, not NaN
    assert ("surplus_fleetd_rig_thermal_cap_watts", n1) not in s  # no cap: no sample
    assert s[("surplus_fleetd_rig_state", (("rig", "n2"), ("site", "north"),
                                           ("state", "unreachable")))] == 1  # fmt: skip
    assert all(math.isfinite(v) for v in s.values())
    with pytest.raises(ValueError, match="already"):
        metrics.add_site(ctl)


def test_the_cycle_histogram_times_the_plan_step() -> None:
    """surplus_fleetd_cycle_seconds is fed by the controller's on_cycle hook, with the plan
    step's duration (milliseconds): it says so, and its buckets resolve milliseconds."""
    ctl = FakeController("north", SiteStats("north"), FakeSite(FakeAllotment([])), [])
    metrics = FleetdMetrics(clock=Clock())
    metrics.add_site(ctl)
    for ms in (0.8, 2.0, 4.0):
        ctl.step(ms / 1e3)
    s = samples(metrics.exposition())
    site = (("site", "north"),)
    assert s[("surplus_fleetd_cycle_seconds_count", site)] == 3
    assert s[("surplus_fleetd_cycle_seconds_sum", site)] == pytest.approx(6.8e-3)
    for le, count in (("0.001", 1), ("0.0025", 2), ("0.005", 3)):
        assert s[("surplus_fleetd_cycle_seconds_bucket", (("le", le), *site))] == count
    (family,) = [f for f in text_string_to_metric_families(metrics.exposition().decode())
                 if f.name == "surplus_fleetd_cycle_seconds"]  # fmt: skip
    assert family.documentation.startswith("One plan step:")
    assert "read, plan and send" not in family.documentation
