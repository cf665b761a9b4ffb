"""The miners' page's endpoints (pool.stats_miner) and the page's own routes
(pool.web_page) over HTTP, in front of a real Stratum server that scripted miners submit
real shares to, with a real SQLite ledger: answers match the models and the served
OpenAPI document, an account sees its own workers only, rejects are counted per worker
and reason, a quiet worker is offline, bad input gets a clear 400 or 404, and every
answer carries the Content-Security-Policy."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pool import stats_schema as schema
from pool.config import PoolConfig, loads
from pool.hashrate_history import HashrateHistory
from pool.ledger import open_store
from pool.metrics.registry import PoolMetrics
from pool.miner_view import MinerView
from pool.online_sketch import OnlineSketch
from pool.stats_api import OPENAPI, PoolView, StatsApi
from pool.stats_miner import MinerApi
from pool.web_page import CSP, WebPage
from tests.observability.openapi_check import problems, response_schema
from tests.waiting import wait_for, wait_until

from .stratum_harness import find_nonce, submit_params

HOSTILE = 'alice.<img src=x onerror="window.pwned=1">'


def pool_config(tmp_path: Path) -> PoolConfig:
    return loads(f"""
mode = "pool"
network = "regtest"
payout_address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
[node]
devnet = true
[ledger]
path = "{tmp_path / 'ledger.sqlite3'}"
[accounts]
alice = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
bob = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
[stats_api]
listen = "127.0.0.1:0"
offline_after = 60
""")


class Offset:
    """The view's clock: real time plus a jump a test can make."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def site(make_server, tmp_path: Path):
    config = pool_config(tmp_path)
    assert config.ledger is not None and config.stats_api is not None
    open_store(config.ledger).close()  # the pool's Ledger migrates before the API starts
    metrics = PoolMetrics(process_metrics=False)
    metrics.history = HashrateHistory()
    server = await make_server(sink=metrics.wrap_sink(None), mode="pool")
    metrics.attach(server, instrument_validator=False)
    clock = Offset()
    view = MinerView(server, metrics.workers, metrics.rejects, metrics.history, config,
                     config.stats_api, clock=clock)  # fmt: skip
    miner_api = MinerApi(view)
    api = StatsApi(PoolView(server, metrics.workers), config.stats_api,
                   [miner_api, WebPage()])  # fmt: skip
    host, port = await api.start()
    async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
        yield server, http, clock, miner_api
    await api.close()
    metrics.detach()


async def get(http: aiohttp.ClientSession, path: str, status: int = 200,
              **query: Any) -> Any:  # fmt: skip
    async with http.get(path, params=query) as r:
        assert r.status == status, await r.text()
        assert r.headers["Content-Security-Policy"] == CSP
        return await r.json()


def check(path: str, model: type[schema.Answer], answer: dict[str, Any]) -> None:
    model.model_validate(answer)
    assert problems(OPENAPI, response_schema(OPENAPI, path), answer) == []


async def mine(connect, server, worker: str, shares: int) -> Any:
    client = await connect(server)
    job = await client.handshake(worker)
    for i in range(shares):
        en2 = i.to_bytes(client.extranonce2_size, "big")
        nonce = find_nonce(job, en2, difficulty=client.difficulty)
        answer = await client.call("mining.submit", submit_params(worker, job, en2, nonce))
        assert answer["result"] is True, answer
    return client, job


async def test_every_answer_matches_its_model_and_an_account_sees_only_its_own(
    site, connect,
) -> None:
    server, http, clock, miner_api = site
    view = miner_api.view
    await mine(connect, server, "alice.rig1", 3)
    await mine(connect, server, HOSTILE, 2)
    await mine(connect, server, "bob.rig1", 2)
    idle = await connect(server)
    await idle.handshake("alice.idle")  # connected, no share yet
    await wait_for(lambda: len(view.workers) == 3, 30, "three workers with shares")

    overview = await get(http, "/api/v1/pool/overview")
    check("/api/v1/pool/overview", schema.PoolOverview, overview)
    online = await get(http, "/api/v1/pool/online")
    check("/api/v1/pool/online", schema.PoolOnline, online)
    assert OnlineSketch.decode(online["accounts"]).count() == overview["miners_online"]
    assert OnlineSketch.decode(online["workers"]).count() == overview["workers_online"]
    assert (overview["workers_online"], overview["miners_online"]) == (3, 2)
    assert overview["scheme"] == "pplns" and overview["fee_percent"] == 1.0
    assert overview["connect"]["stratum_port"] == server.address[1]
    assert overview["connect"]["password"] == f"d={server.config.vardiff.initial:g}"
    check("/api/v1/pool/blocks", schema.PoolBlockList, await get(http, "/api/v1/pool/blocks"))

    miner = await get(http, "/api/v1/miner", account="alice")
    check("/api/v1/miner", schema.Miner, miner)
    assert (miner["workers_online"], miner["workers_offline"]) == (2, 1)
    assert miner["balance"] == {"immature_sat": 0, "payable_sat": 0, "pending_sat": 0,
                                "paid_sat": 0}  # fmt: skip
    workers = await get(http, "/api/v1/miner/workers", account="alice")
    check("/api/v1/miner/workers", schema.MinerWorkerList, workers)
    names = {w["worker"]: w for w in workers["workers"]}
    assert set(names) == {"alice.rig1", HOSTILE, "alice.idle"}  # no bob
    assert names[HOSTILE]["rig"] == '<img src=x onerror="window.pwned=1">'
    assert names["alice.rig1"]["accepted_shares"] == 3
    assert names["alice.rig1"]["best_share_difficulty"] >= names["alice.rig1"]["difficulty"]
    assert names["alice.idle"]["status"] == "new"
    assert [w["status"] for w in workers["workers"]][-1] == "new"  # online ones first
    page = await get(http, "/api/v1/miner/workers", account="alice", limit=1, offset=1)
    assert len(page["workers"]) == 1 and page["next_offset"] == 2
    payouts = await get(http, "/api/v1/miner/payouts", account="alice")
    check("/api/v1/miner/payouts", schema.PayoutList, payouts)
    blocks = await get(http, "/api/v1/miner/blocks", account="alice")
    check("/api/v1/miner/blocks", schema.PoolBlockList, blocks)

    clock.offset = 10.0  # charts rate a bucket once it is measured for 5 s
    for span in ("1h", "24h", "7d"):
        async def rated(span: str = span) -> bool:  # the chart is cached for a moment
            chart = await get(http, "/api/v1/pool/hashrate", range=span)
            check("/api/v1/pool/hashrate", schema.HashrateChart, chart)
            return any(p["hashrate_hs"] for p in chart["points"])

        await wait_until(rated, 10.0, f"the pool's {span} chart rated")
        chart = await get(http, "/api/v1/miner/hashrate", account="bob", range=span)
        check("/api/v1/miner/hashrate", schema.HashrateChart, chart)
        assert any(p["hashrate_hs"] for p in chart["points"]), span


async def test_rejects_by_reason_and_a_quiet_worker(site, connect) -> None:
    server, http, clock, miner_api = site
    client, job = await mine(connect, server, "alice.rig1", 1)
    en2 = (0).to_bytes(client.extranonce2_size, "big")
    nonce = find_nonce(job, en2, difficulty=client.difficulty)
    params = submit_params("alice.rig1", job, en2, nonce)
    assert (await client.call("mining.submit", params))["error"][0] == 22  # duplicate
    en2 = (1).to_bytes(client.extranonce2_size, "big")
    low = find_nonce(job, en2, difficulty=client.difficulty, meets=False)
    answer = await client.call("mining.submit", submit_params("alice.rig1", job, en2, low))
    assert answer["error"][0] == 23  # low difficulty
    stale = submit_params("alice.rig1", job, en2, low)
    stale[1] = "ffffffff"
    assert (await client.call("mining.submit", stale))["error"][0] == 21
    # a name this connection never authorized is nobody's worker: counted nowhere
    stranger = submit_params("bob.rig9", job, en2, low)
    assert (await client.call("mining.submit", stranger))["error"][0] == 24

    # each was counted before its answer was written
    rows = (await get(http, "/api/v1/miner/workers", account="alice"))["workers"]
    assert rows[0]["rejected"] == {"other": 0, "stale": 1, "duplicate": 1, "low_difficulty": 1,
                                   "unauthorized": 0, "not_subscribed": 0}  # fmt: skip
    await get(http, "/api/v1/miner/workers", 404, account="bob")

    clock.offset = 61.0  # a minute passes without a share (offline_after = 60)
    miner_api.cache.clear()
    rows = (await get(http, "/api/v1/miner/workers", account="alice"))["workers"]
    assert [(w["worker"], w["status"]) for w in rows] == [("alice.rig1", "offline")]
    miner = await get(http, "/api/v1/miner", account="alice")
    assert (miner["workers_online"], miner["workers_offline"]) == (0, 1)


@pytest.mark.parametrize(("path", "query", "status", "said"), [
    ("/api/v1/miner", {"account": "nobody"}, 404, "no miner 'nobody' at this pool"),
    ("/api/v1/miner", {}, 400, "account: required"),
    ("/api/v1/miner", {"account": "x" * 257}, 400, "account: expected 1..256 characters"),
    ("/api/v1/miner/workers", {"account": "nobody"}, 404, "no miner"),
    ("/api/v1/miner/hashrate", {"account": "nobody"}, 404, "no miner"),
    ("/api/v1/pool/hashrate", {"range": "2h"}, 400, "range: expected one of 1h, 24h, 7d"),
    ("/api/v1/pool/blocks", {"limit": "0"}, 400, "limit: expected an integer"),
    ("/api/v1/miner/payouts", {"account": "a", "offset": "-1"}, 400, "offset: expected"),
])  # fmt: skip
async def test_bad_requests_get_a_clear_answer(site, path, query, status, said) -> None:
    _, http, _, _ = site
    answer = await get(http, path, status, **query)
    assert said in answer["error"]
    schema.Error.model_validate(answer)


async def test_the_page_is_served_with_its_headers(site) -> None:
    _, http, _, _ = site
    async with http.get("/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        html = await r.text()
        etag = r.headers["ETag"]
    # the page's script a module (it imports /static/dom.js), nothing inline
    assert '<script type="module" src="/static/app.js"' in html and "<script>" not in html
    async with http.get("/", headers={"If-None-Match": etag}) as r:
        assert r.status == 304
    for path, kind in (("/static/app.js", "text/javascript"), ("/static/dom.js", "text/javascript"),
                       ("/static/style.css", "text/css"),
                       ("/static/favicon.svg", "image/svg+xml")):
        async with http.get(path) as r:
            assert (r.status, r.content_type) == (200, kind)
    async with http.get("/static/../pool/config.py") as r:
        assert r.status == 404
    root = Path(__file__).parents[2]
    for script in (root / "pool" / "web" / "app.js", root / "plumbing" / "web" / "dom.js"):
        # data reaches the DOM as text only
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                             script.read_text()), script  # fmt: skip


async def test_a_ledger_that_cannot_answer_is_a_clear_503(site, connect) -> None:
    server, http, _, miner_api = site
    await mine(connect, server, "alice.rig1", 1)
    assert miner_api.reader is not None
    miner_api.reader.backend.close()  # the database went away under the page
    answer = await get(http, "/api/v1/miner", 503, account="alice")
    assert answer == {"error": "the pool's ledger cannot be read now; try again shortly"}
    await get(http, "/api/v1/pool/blocks", 503)
