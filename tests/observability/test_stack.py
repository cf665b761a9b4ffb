"""The observability stack end to end: the devnet pool, a small rigsim fleet mining through
it, fleetd controlling that fleet, and a real Prometheus scraping all three every second.

- every endpoint's exposition passes `promtool check metrics`;
- EVERY PromQL expression of EVERY dashboard panel, with its template variables set to
  real values, returns data through Prometheus's HTTP API, with the labels its legend
  shows (and, where a variable selects them, the selected values);
- the pool's stats API answers what its OpenAPI document describes, about the live pool;
- metric values against ground truth: rigsim's true draw and meter, rigs by state,
  hashes done, and the shares counted against the shares the miners sent.

One stack serves the whole module (about 40 s of wall time in all).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pool.metrics.collector import REJECT_REASONS
from pool.stats_api import OPENAPI
from pool.workers import HASHES_PER_DIFF1
from tests.components.prometheus import check_metrics
from tests.observability.conftest import require_prometheus
from tests.observability.dashboards import (
    load_all,
    resolve_variables,
    substitute,
    targets,
)
from tests.observability.openapi_check import problems, response_schema
from tests.observability.stack import JOBS, Stack, running_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.asyncio(loop_scope="module"),
]

RATE_INTERVAL = "30s"  # what $__rate_interval becomes (Grafana: 4 x the 5 s scrape interval)
WARM_S = 33.0  # stack age before rate() windows are full


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    require_prometheus()
    async with running_stack(Path(tmp_path_factory.mktemp("observability"))) as s:
        yield s


async def prom(stack: Stack, method: str, *args: Any, **kwargs: Any) -> Any:
    """A Prometheus API call off the event loop (the scraped endpoints run on it)."""
    return await asyncio.to_thread(getattr(stack.prometheus, method), *args, **kwargs)


async def get(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, **kwargs) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.read()


async def warm(stack: Stack) -> None:
    """Until Prometheus has scraped every target after the stack is WARM_S old (its
    rate() windows are full): a condition on Prometheus, with a deadline."""
    await prom(stack, "wait_for_scrape_after", stack.started + WARM_S, timeout=WARM_S + 30)


def finite(rows: list[dict[str, Any]]) -> list[float]:
    return [v for v in (float(r["value"][1]) for r in rows) if math.isfinite(v)]


# ---------------------------------------------------------------------- exposition


async def test_every_endpoint_passes_promtool(stack: Stack) -> None:
    for component in JOBS:
        status, body = await get(stack.metrics_url(component))
        assert status == 200, component
        assert isinstance(body, bytes) and body.count(b"\n# TYPE ") >= 5, component
        result = await asyncio.to_thread(check_metrics, body)
        assert result.ok, f"{component}: promtool check metrics:\n{result.output}"
        prefix = f"surplus_{component}_".encode()
        for line in body.splitlines():
            if line and not line.startswith(b"#"):
                assert line.startswith(prefix), f"{component}: {line[:80]!r}"


# ---------------------------------------------------------------------- dashboards


async def test_every_dashboard_query_returns_data_with_its_labels(stack: Stack) -> None:
    await warm(stack)

    def label_values(selector: str | None, label: str) -> list[str]:
        params = {"match[]": selector} if selector else {}
        return [str(v) for v in stack.prometheus.api(f"label/{label}/values", **params)]

    hashing = {
        (r["metric"]["site"], r["metric"]["rig"])
        for r in await prom(stack, "query", 'surplus_fleetd_rig_state{state="hashing"} == 1')
    }
    assert hashing, "fleetd reports no hashing rig"
    evaluated = 0
    for name, dashboard in load_all().items():
        choices: list[dict[str, list[str]]]
        if name == "rig":  # drill into every hashing rig of every site
            choices = []
            for site, rig in sorted(hashing):
                def choose(var: str, options: list[str], chosen: dict[str, list[str]],
                           site: str = site, rig: str = rig) -> list[str]:
                    want = site if var == "site" else rig
                    assert want in options, f"${var}: {want} not among {options}"
                    return [want]

                choices.append(await asyncio.to_thread(
                    resolve_variables, dashboard, label_values, RATE_INTERVAL, choose))
        else:
            choices = [await asyncio.to_thread(
                resolve_variables, dashboard, label_values, RATE_INTERVAL)]
        for values in choices:
            for target in targets(name, dashboard):
                expr = substitute(target.expr, values, RATE_INTERVAL)
                rows = await prom(stack, "query", expr)
                where = f"{target} [{expr}] with {values}"
                assert rows, f"no data: {where}"
                assert finite(rows), f"only NaN/Inf: {where}: {rows}"
                for row in rows:
                    labels = row["metric"]
                    missing = target.legend_labels - set(labels)
                    assert not missing, f"labels {missing} missing from {labels}: {where}"
                    for var, chosen in values.items():
                        if var in target.variables and var in labels:
                            assert labels[var] in chosen, f"{var}={labels[var]}: {where}"
                evaluated += 1
    assert evaluated >= 40


# ---------------------------------------------------------------------- stats API


async def test_stats_api_matches_its_openapi_document_and_the_live_pool(stack: Stack) -> None:
    base = stack.stats_url
    status, doc = await get(f"{base}/openapi.json")
    assert status == 200 and doc == OPENAPI
    assert doc["openapi"].startswith("3.")
    status, summary = await get(f"{base}/api/v1/pool")
    assert status == 200
    assert not problems(doc, response_schema(doc, "/api/v1/pool"), summary)
    assert summary["connections"] == len(stack.miners)
    assert summary["authorized_workers"] == len(stack.miners)
    assert 1 <= summary["workers"] <= len(stack.miners)  # fleetd may keep a rig asleep
    assert summary["hashrate_hs"] > 0 and summary["height"] >= 1
    assert summary["blocks_accepted"] >= 1 and summary["last_block"]["accepted"] is True

    status, body = await get(f"{base}/api/v1/workers")
    assert status == 200
    assert not problems(doc, response_schema(doc, "/api/v1/workers"), body)
    names = {w["worker"] for w in body["workers"]}
    assert names == {m.worker for m in stack.miners.values()}
    rates = [w["hashrate_hs"] for w in body["workers"]]
    assert rates == sorted(rates, reverse=True)

    one = body["workers"][0]["worker"]
    status, row = await get(f"{base}/api/v1/workers/{one}")
    assert status == 200 and row["worker"] == one and row["connected"] is True
    assert not problems(doc, response_schema(doc, "/api/v1/workers/{worker}"), row)
    status, err = await get(f"{base}/api/v1/workers/nobody.here")
    assert status == 404 and "nobody.here" in err["error"]

    status, blocks = await get(f"{base}/api/v1/blocks", params={"limit": "2"})
    assert status == 200 and 1 <= len(blocks["blocks"]) <= 2
    assert not problems(doc, response_schema(doc, "/api/v1/blocks"), blocks)
    assert blocks["blocks"][0]["height"] >= blocks["blocks"][-1]["height"]
    status, err = await get(f"{base}/api/v1/blocks", params={"limit": "zero"})
    assert status == 400 and "limit" in err["error"]


# ---------------------------------------------------------------------- ground truth


async def test_site_power_and_states_equal_rigsim_truth(stack: Stack) -> None:
    await warm(stack)
    truth = stack.truth
    checked = 0
    for site in stack.fleet.site_names:
        for metric, key, slack_s in (
            ("surplus_rigsim_site_power_watts", "true_w", 0.25),
            ("surplus_rigsim_site_meter_watts", "meter_w", 0.25),
            # fleetd reads the meter through Prometheus: one poll and one scrape behind
            ("surplus_fleetd_site_measured_power_watts", "meter_w", 4.0),
        ):
            rows = await prom(stack, "query", f'{metric}{{site="{site}"}}[15s]')
            assert len(rows) == 1, f"{metric}{{site={site}}}: {rows}"
            for ts, raw in rows[0]["values"]:
                seen = truth.window(key, site, float(ts) - slack_s, float(ts) + 0.25)
                assert seen, f"no truth near {ts}"
                v = float(raw)
                tol = 1e-6 * max(seen) + 1e-6
                assert min(seen) - tol <= v <= max(seen) + tol, (
                    f"{metric}{{site={site}}} at {ts}: {v} W, rigsim said {min(seen)}..{max(seen)}"
                )
                checked += 1
        rows = await prom(stack, "query", f'surplus_rigsim_site_rigs{{site="{site}"}}')
        scraped = {r["metric"]["state"]: int(float(r["value"][1])) for r in rows}
        ts = float(rows[0]["value"][0])
        near = [s[site] for t, s in zip(truth.t, truth.states, strict=True) if abs(t - ts) < 1.2]
        assert scraped in near, f"{site}: scraped {scraped}, rigsim {near[-1:]}"
        assert sum(scraped.values()) == len(stack.fleet.rigs_at_site(site))
    assert checked >= 60

    # fleetd steers by the meter (fresh), so its site power is rigsim's meter too
    rows = await prom(stack, "query", "surplus_fleetd_site_power_metered")
    assert {r["metric"]["site"]: r["value"][1] for r in rows} == {"test": "1", "hot": "1"}


async def test_pool_hashrate_equals_the_hashes_the_miners_did(stack: Stack) -> None:
    await warm(stack)
    truth = stack.truth
    t1 = time.time() - 2.0
    t0 = t1 - 25.0
    i0 = min(range(len(truth.t)), key=lambda i: abs(truth.t[i] - t0))
    i1 = min(range(len(truth.t)), key=lambda i: abs(truth.t[i] - t1))
    hashes = truth.hashes[i1] - truth.hashes[i0]
    d0 = await prom(stack, "value", "surplus_pool_accepted_difficulty_total", at=truth.t[i0])
    d1 = await prom(stack, "value", "surplus_pool_accepted_difficulty_total", at=truth.t[i1])
    credited = (d1 - d0) * HASHES_PER_DIFF1
    assert hashes > 1_000_000
    assert 0.75 <= credited / hashes <= 1.25, f"shares prove {credited:.0f} of {hashes} hashes"


async def test_shares_counted_equal_shares_sent(stack: Stack) -> None:
    # stop hashing, then wait until every share sent has its answer
    stack.miners_follow_rigs = False
    for miner in stack.miners.values():
        miner.pause()
    deadline = time.monotonic() + 15
    miners = list(stack.miners.values())
    while any(m.stats.shares_found != m.stats.accepted + sum(m.stats.rejected.values())
              for m in miners):  # fmt: skip
        assert time.monotonic() < deadline, "shares still unanswered"
        await asyncio.sleep(0.1)
    quiet = time.time()
    await prom(stack, "wait_for_scrape_after", quiet + 0.05)

    sent = sum(m.stats.shares_found for m in miners)
    accepted = sum(m.stats.accepted for m in miners)
    rejected: dict[str, int] = dict.fromkeys(REJECT_REASONS.values(), 0)
    for m in miners:
        for code, n in m.stats.rejected.items():
            rejected[REJECT_REASONS.get(code, "other_code")] += n
    assert sent > 200 and accepted > 0.9 * sent

    rows = await prom(stack, "query", "surplus_pool_shares_total")
    counted = {r["metric"]["result"]: int(float(r["value"][1])) for r in rows}
    assert counted == {"accepted": accepted, **rejected}
    assert sum(counted.values()) == sent

    # the per-worker accounting and the stats API agree with each miner
    status, body = await get(f"{stack.stats_url}/api/v1/workers")
    assert status == 200
    per_worker = {w["worker"]: w["accepted_shares"] for w in body["workers"]}
    assert per_worker == {m.worker: m.stats.accepted for m in miners}
    status, summary = await get(f"{stack.stats_url}/api/v1/pool")
    assert summary["shares"]["accepted"] == accepted
    assert summary["shares"]["rejected"] == rejected
