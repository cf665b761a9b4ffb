"""Stats that do not grow with the pool (issue 12, findings 6 and 10): a scrape, the
summary and a worker lookup rate only the workers they show and never walk the
connections; the workers endpoint pages and filters; the worker book is bounded.

Work is counted (ratings of a worker, walks of the session set), not timed: the timing
goal (share answers p99 < 50 ms during scrapes with 100,000 workers) is measured by
benchmarks/stratum_load.py --stats-workers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from pool.metrics.config import MetricsSection
from pool.metrics.registry import PoolMetrics
from pool.stats_api import OPENAPI, PoolView, StatsApi
from pool.workers import SYNC_RANK, WorkerBook

NOW = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


class NoWalk(set):
    """The server's session set, refusing to be walked (len() is fine)."""

    def __iter__(self):
        raise AssertionError("the session set was walked")


@pytest.fixture
def rated(monkeypatch) -> list[int]:
    """How many times any worker's hashrate was computed."""
    calls = [0]
    original = WorkerBook._rate

    def counting(self, slot, now):
        calls[0] += 1
        return original(self, slot, now)

    monkeypatch.setattr(WorkerBook, "_rate", counting)
    return calls


def fill(book: WorkerBook, n: int, accounts: int = 100) -> list[str]:
    names = [f"acct{i % accounts}.rig{i}" for i in range(n)]
    for i, name in enumerate(names):
        book.record(name, 1.0 + i % 13, NOW - 5)
    return names


async def ranked(book: WorkerBook) -> None:
    """Let a background ranking of a large book run to its end."""
    book.views(limit=1)
    deadline = time.monotonic() + 30
    while book._ranking is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)


async def test_scrape_summary_and_lookup_rate_only_what_they_show(make_server, rated):
    server = await make_server()
    clock = Clock()
    metrics = PoolMetrics(MetricsSection(top_workers=50), process_metrics=False, clock=clock)
    metrics.attach(server)
    names = fill(metrics.workers, 20_000)
    view = PoolView(server, metrics.workers, clock=clock)
    sessions, server.sessions = server.sessions, NoWalk(server.sessions)
    try:
        rated[0] = 0
        text = metrics.exposition().decode()
        assert rated[0] <= 50, f"a scrape rated {rated[0]} workers"
        assert text.count("surplus_pool_worker_hashrate_hashes_per_second{") == 50
        assert "surplus_pool_tracked_workers 20000.0" in text
        rated[0] = 0
        summary = view.summary()
        assert rated[0] == 0 and summary["workers"] == 20_000
        assert summary["hashrate_hs"] > 0
        rated[0] = 0
        row = view.worker(names[12_345])
        assert row is not None and row["accepted_shares"] == 1 and rated[0] == 1
        rated[0] = 0
        page = view.worker_page(10, 500)
        assert len(page["workers"]) == 10 and page["next_offset"] == 510 and rated[0] <= 11
        rated[0] = 0
        account = view.account("acct7")
        assert account is not None and len(account["workers"]) == 200 and rated[0] == 200
    finally:
        server.sessions = sessions
        metrics.detach()
        await metrics.workers.close()


@pytest.mark.parametrize("n", [SYNC_RANK // 2, SYNC_RANK * 2 + 17])
async def test_pages_cover_every_worker_once_highest_first(make_server, connect, n):
    server = await make_server()
    clock = Clock()
    book = WorkerBook(600.0, clock=clock)
    names = fill(book, n)
    await ranked(book)
    for k in range(50):  # arrived after the ranking: listed after the ranked ones, once
        names.append(f"late.rig{k}")
        book.record(names[-1], 0.5, NOW - 5)
    c = await connect(server)
    await c.subscribe()
    assert (await c.call("mining.authorize", ["idle.rig", "x"]))["result"] is True
    view = PoolView(server, book, clock=clock)
    seen: list[dict] = []
    offset: int | None = 0
    while offset is not None:
        page = view.worker_page(777, offset)
        seen += page["workers"]
        offset = page["next_offset"]
    assert [r["worker"] for r in seen[:-1]] and seen[-1]["worker"] == "idle.rig"
    assert sorted(r["worker"] for r in seen[:-1]) == sorted(names)
    rates = [r["hashrate_hs"] for r in seen[:-51]]
    assert rates == sorted(rates, reverse=True)
    assert seen[-1]["connected"] is True and seen[-1]["accepted_shares"] == 0
    idle = view.worker_page(10, 0, account="idle")["workers"]
    assert [r["worker"] for r in idle] == ["idle.rig"]
    await book.close()


async def test_http_workers_page_filters_and_account(make_server):
    server = await make_server()
    clock = Clock()
    book = WorkerBook(600.0, clock=clock)
    fill(book, 300, accounts=3)
    api = StatsApi(PoolView(server, book, clock=clock))
    host, port = await api.start("127.0.0.1", 0)
    base = f"http://{host}:{port}/api/v1"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/workers", params={"limit": "20", "offset": "280"}) as r:
                body = await r.json()
                assert r.status == 200 and len(body["workers"]) == 20
                assert body["next_offset"] is None
            async with http.get(f"{base}/workers", params={"account": "acct1"}) as r:
                body = await r.json()
                assert {w["account"] for w in body["workers"]} == {"acct1"}
                assert len(body["workers"]) == 100
            async with http.get(f"{base}/accounts/acct2") as r:
                body = await r.json()
                assert r.status == 200 and len(body["workers"]) == 100
                assert body["hashrate_hs"] == pytest.approx(
                    sum(w["hashrate_hs"] for w in body["workers"]))
            for query in ({"offset": "-1"}, {"limit": "0"}, {"limit": "9" * 40},
                          {"account": "a" * 300}):
                async with http.get(f"{base}/workers", params=query) as r:
                    assert r.status == 400, query
            async with http.get(f"{base}/accounts/nobody") as r:
                assert r.status == 404
    finally:
        await api.close()
    params = {p["name"] for p in OPENAPI["paths"]["/api/v1/workers"]["get"]["parameters"]}
    assert params == {"limit", "offset", "account"}


def test_the_book_holds_at_most_max_workers_silent_longest_first() -> None:
    clock = Clock()
    book = WorkerBook(60.0, bucket_s=1.0, max_workers=100, clock=clock)
    for i in range(1_000):
        clock.t = NOW + i * 0.01
        book.record(f"a{i % 7}.w{i}", 1.0)
        if i % 10 == 0:
            book.record("a0.steady", 1.0)  # keeps mining: never the longest silent
    assert len(book) == 100 and book.evicted == 1_000 + 1 - 100
    assert "a0.steady" in book and "a1.w1" not in book and "a5.w999" in book
    kept = sum(len(book.account(f"a{k}")) for k in range(7))
    assert kept == 100, "the account index follows the evictions"


def test_a_workers_memory_is_fixed_whatever_its_share_rate() -> None:
    clock = Clock()
    book = WorkerBook(60.0, bucket_s=1.0, clock=clock)
    for k in range(20_000):
        clock.t = NOW + k * 0.01  # 100 shares a second for 200 s
        book.record("busy.rig", 0.5)
    assert book.slots == 61 and len(book._ring) == book.slots * len(book)
    view = book.view("busy.rig")
    assert view is not None and view.accepted == 20_000
    assert view.hashrate == pytest.approx(50 * 2**32, rel=0.03)  # 100/s x 0.5
    assert book.active() == 1
    assert book.total_hashrate() == pytest.approx(view.hashrate, rel=0.03)
