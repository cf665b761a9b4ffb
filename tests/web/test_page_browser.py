"""The miners' page in a real browser (Debian's chromium through Playwright) against a
real `surplus pool` process on the devnet, in pool mode with a SQLite ledger, while
rigsim miners submit real SHA-256d shares and find blocks.

- the pool page shows exactly what the stats API answered it (and loads nothing from
  anywhere else);
- a miner's page lists that account's workers (nobody else's), and its figures move
  while they mine;
- a hostile worker name renders as text: no element, no script, no attribute from it;
- an unknown address gets a plain message;
- a worker that stops hashing is shown offline;
- screenshots (desktop, and a phone at 390x844) are saved in .cache/artifacts/web.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pool import stats_schema as schema
from pool.web_page import CSP
from rigsim.miner import Miner
from tests.components.browser import ARTIFACTS, browser, require_browser
from tests.stratum.pool_process import PoolProcess
from tests.web.page_pool import page_pool_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.asyncio(loop_scope="module"),
]

HOSTILE = 'alice.<img src=x onerror="window.pwned=1">'
SCRIPTED = "alice.</td><script>window.pwned=2</script>"
WORKERS = ("alice.rig1", "alice.rig2", HOSTILE, SCRIPTED, "alice.quiet", "bob.rig1")
UNKNOWN = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"


@dataclass
class Site:
    url: str
    stratum_port: int
    miners: dict[str, Miner]
    errors: list[str] = field(default_factory=list)  # the browser's console and page errors


async def api(site: Site, path: str, **query: Any) -> Any:
    async with aiohttp.ClientSession() as http, http.get(site.url + "/api/v1" + path,
                                                         params=query) as r:  # fmt: skip
        return await r.json()


async def until(check: Any, timeout: float, what: str) -> None:
    """Wait for an async condition with a deadline (polled, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.25)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    require_browser()
    tmp = Path(tmp_path_factory.mktemp("web"))
    config = page_pool_config(tmp / "ledger.sqlite3", ("alice", "bob"),
                              stats_api="offline_after = 4")
    pool = PoolProcess(tmp, config)
    await asyncio.to_thread(pool.start)
    assert pool.stats_url is not None
    miners = {w: Miner("127.0.0.1", pool.port, w, hashrate=12_000) for w in WORKERS}
    for miner in miners.values():
        miner.start()
    s = Site(pool.stats_url, pool.port, miners)
    try:
        async def ready() -> bool:
            o = await api(s, "/pool/overview")
            return o["workers_online"] == len(WORKERS) and o["blocks"]["confirmed"] >= 1

        await until(ready, 90, "every worker online and a block confirmed")
        yield s
    finally:
        for miner in miners.values():
            await miner.stop()
        await asyncio.to_thread(pool.terminate)
        assert pool.alarming() == []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def context(site: Site, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = Path(tmp_path_factory.mktemp("chromium-profile"))
    async with browser(profile, viewport={"width": 1280, "height": 900}) as ctx:
        yield ctx


def watch(page: Any, site: Site) -> Any:
    """Collect the page's script errors and console errors (a test expects none)."""
    page.on("console", lambda m: site.errors.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)  # fmt: skip
    page.on("pageerror", lambda e: site.errors.append(f"page error: {e}"))
    return page


async def open_page(context: Any, site: Site, path: str) -> Any:
    page = watch(await context.new_page(), site)
    response = await page.goto(site.url + path)
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == CSP
    return page


async def value(page: Any, field: str) -> float | None:
    raw = await page.get_attribute(f"[data-field={field}]", "data-value")
    return None if raw in (None, "", "null") else float(raw)


async def test_the_pool_page_shows_what_the_stats_api_answered(context: Any, site: Site) -> None:
    page = watch(await context.new_page(), site)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    async with page.expect_response(lambda r: "/api/v1/pool/overview" in r.url) as first, \
            page.expect_response(lambda r: "/api/v1/pool/blocks" in r.url) as listed:
        await page.goto(site.url + "/")
    overview = await (await first.value).json()
    blocks = await (await listed.value).json()
    schema.PoolOverview.model_validate(overview)
    schema.PoolBlockList.model_validate(blocks)
    await page.wait_for_selector("[data-table=blocks]")
    await page.wait_for_selector("svg.chart")
    for name, key in (("hashrate", "hashrate_hs"), ("miners_online", "miners_online"),
                      ("workers_online", "workers_online"), ("height", "height"),
                      ("network_difficulty", "network_difficulty"),
                      ("expected_block_s", "expected_block_s")):
        assert await value(page, name) == overview[key], name
    assert await value(page, "blocks_found") == overview["blocks"]["found"]
    assert overview["miners_online"] == 2 and overview["workers_online"] == len(WORKERS)
    assert await page.text_content("[data-field=scheme]") == "PPLNS"
    assert await page.text_content("[data-field=stratum_url]") == (
        f"stratum+tcp://127.0.0.1:{site.stratum_port}")
    assert await page.text_content("[data-field=password]") == overview["connect"]["password"]
    assert await page.text_content("[data-field=tls_url]") == "not offered by this pool"
    shown = await page.eval_on_selector_all(
        "[data-table=blocks] tbody tr",
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[2].textContent, "
        "r.querySelector('[data-status]').dataset.status])")
    assert shown == [[str(b["height"]), b["worker"], b["status"]] for b in blocks["blocks"]]
    statuses = set(await page.eval_on_selector_all(
        "[data-table=blocks] [data-status]", "els => els.map(e => e.dataset.status)"))
    assert "confirmed" in statuses
    assert all(url.startswith(site.url) for url in requests), requests  # nothing from elsewhere
    await page.screenshot(path=str(ARTIFACTS / "pool.png"), full_page=True)
    assert site.errors == []
    await page.close()


async def worker_rows(page: Any) -> dict[str, dict[str, str]]:
    return {row["worker"]: row for row in await page.eval_on_selector_all(
        "[data-table=workers] tbody tr",
        """rows => rows.map(r => ({
            worker: r.querySelector('[data-worker]').dataset.worker,
            shown: r.querySelector('[data-worker]').textContent,
            status: r.querySelector('[data-status]').dataset.status,
            shares: r.querySelectorAll('[data-value]')[1].dataset.value}))""")}


async def test_a_miners_page_lists_their_workers_and_moves_while_they_mine(
    context: Any, site: Site,
) -> None:
    page = watch(await context.new_page(), site)
    async with page.expect_response(lambda r: "/api/v1/miner/workers" in r.url) as listed:
        await page.goto(site.url + "/?account=alice")
    answer = await (await listed.value).json()
    schema.MinerWorkerList.model_validate(answer)
    await page.wait_for_selector("[data-table=workers]")
    await page.wait_for_selector("svg.chart")
    rows = await worker_rows(page)
    assert set(rows) == {w for w in WORKERS if w.startswith("alice.")}  # bob's are not here
    assert {w["worker"]: (w["status"], str(w["accepted_shares"])) for w in answer["workers"]} \
        == {name: (row["status"], row["shares"]) for name, row in rows.items()}
    assert await page.text_content("[data-field=account]") == "alice"
    assert await value(page, "window_shares") is not None
    assert await page.query_selector("[data-section=balance]") is not None
    before = int(rows["alice.rig1"]["shares"])
    await page.screenshot(path=str(ARTIFACTS / "miner.png"), full_page=True)

    deadline = time.monotonic() + 60
    while int((await worker_rows(page))["alice.rig1"]["shares"]) <= before:
        assert time.monotonic() < deadline, "alice.rig1's shares did not move in 60 s"
        await page.reload()
        await page.wait_for_selector("[data-table=workers]")
    payable = await value(page, "payable")
    immature = await value(page, "immature")
    assert (payable or 0) + (immature or 0) > 0  # blocks found: alice has been credited

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    await page.wait_for_selector("[data-table=workers]")
    await page.wait_for_selector("svg.chart")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    await page.screenshot(path=str(ARTIFACTS / "phone-390x844.png"))
    assert site.errors == []
    await page.close()


async def test_a_hostile_worker_name_renders_as_text(context: Any, site: Site) -> None:
    page = await open_page(context, site, "/?account=alice")
    await page.wait_for_selector("[data-table=workers]")
    rows = await worker_rows(page)
    assert rows[HOSTILE]["shown"] == HOSTILE.split(".", 1)[1]
    assert rows[SCRIPTED]["shown"] == SCRIPTED.split(".", 1)[1]
    assert await page.evaluate("document.querySelectorAll('main img, main script').length") == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert await page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    await page.close()


async def test_an_unknown_address_gets_a_clear_message(context: Any, site: Site) -> None:
    page = await open_page(context, site, "/?account=" + UNKNOWN)
    await page.wait_for_selector("[data-field=problem]")
    said = await page.text_content("[data-field=problem]")
    assert said is not None and said.startswith(f"no miner '{UNKNOWN}' at this pool")
    assert await page.query_selector("[data-table=workers]") is None
    await page.screenshot(path=str(ARTIFACTS / "unknown.png"))
    await page.close()


async def test_a_worker_that_stops_hashing_is_shown_offline(context: Any, site: Site) -> None:
    site.miners["alice.quiet"].pause()  # connected, hashing nothing
    page = await open_page(context, site, "/?account=alice")
    deadline = time.monotonic() + 30
    while True:
        await page.wait_for_selector("[data-table=workers]")
        rows = await worker_rows(page)
        # the same page shows the quiet one offline and the hashing one online (on a
        # loaded machine the hashing one may miss a share window now and then)
        if rows["alice.quiet"]["status"] == "offline" and rows["alice.rig1"]["status"] == "online":
            break
        assert time.monotonic() < deadline, (rows["alice.quiet"], rows["alice.rig1"])
        await page.reload()
    await page.close()
