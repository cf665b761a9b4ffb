"""The console against hostile strings, in a real browser: a site named with markup in
the coordinator's config, and a fleetd and a pool (here a loopback server answering as
a compromised one would) whose rig names, families, states, models and worker rows carry
markup and script. Every one of them is shown as text: no element, no script, no
attribute comes from them, and the page's script raises nothing."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from coordinator.config import parse_config
from coordinator.daemon import ControlDaemon
from tests.components.browser import ARTIFACTS, browser, require_browser
from tests.components.process import free_port
from tests.loopback_http import JsonServer, Request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SITE = '<svg onload="window.pwned=1">north</svg>'
RIG = 'r1"><img src=x onerror="window.pwned=2">'
FAMILY = "<img src=x onerror=window.pwned=3>"
STATE = "</td><script>window.pwned=4</script>"
MODEL = "<b>S19</b>\u202e"
MODEL_SHOWN = "<b>S19</b>\\u202e"  # a bidirectional override, escaped as it is read


def fleetd(req: Request) -> tuple[int, bytes]:
    if req.path == "/sites/a":
        body: dict[str, Any] = {"site_kw": 3.3, "firm_kw": 0.0, "hashrate_ths": 100.0, "rigs": 1,
                                "emergency": False, "rigs_by_state": {STATE: 1}}  # fmt: skip
    elif req.path == "/sites/a/rigs":
        body = {"site": "a", "rigs": [{"name": RIG, "model": MODEL, "firmware": FAMILY,
                                       "state": STATE, "watts": 3000.0, "ths": 100.0,
                                       "fresh": True}]}  # fmt: skip
    elif req.path.startswith("/api/v1/workers"):
        body = {"workers": [{"worker": f"acct.{RIG}", "accepted_shares": 0,
                             "accepted_difficulty": 0.0, "difficulty": 1e-6}],
                "next_offset": None}  # fmt: skip
    else:
        return 404, b'{"error": "no"}'
    return 200, json.dumps(body).encode()


def test_hostile_strings_stay_text(tmp_path: Path) -> None:
    require_browser()
    server = JsonServer(fleetd).start()
    key = tmp_path / "k"
    key.write_text("k" * 40)
    os.environ["CONSOLE_HOSTILE_TOKEN"] = "console-hostile-token-0123456789"
    cfg = parse_config({
        "control": {"portfolio_mw": 0.01, "interval_s": 0.5, "site_timeout_s": 1.0,
                    "state_file": str(tmp_path / "s.json"),
                    "audit_path": str(tmp_path / "a.jsonl")},
        "api": {"listen": f"127.0.0.1:{free_port()}",
                "tokens": [{"name": "ops", "token_env": "CONSOLE_HOSTILE_TOKEN"}]},
        "metrics": {"enabled": False},
        "pool": {"stats_url": server.url, "every_s": 0.5, "min_window_s": 1.0,
                 "max_window_s": 10.0, "min_expected_shares": 14.0, "hashes_per_th": 100.0},
        "sites": {SITE: {"api_url": server.url, "site": "a", "key_file": str(key),
                         "licence_mw": 0.01, "pool_account": "acct"}},
    })  # fmt: skip
    errors: list[str] = []

    async def main() -> None:
        async with (
            ControlDaemon(cfg) as daemon,
            browser(tmp_path / "profile", viewport={"width": 1280, "height": 900}) as ctx,
        ):
            page = await ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(daemon.url + "/")
            await page.wait_for_selector("[data-table=flagged] tbody tr")
            await page.wait_for_selector("#rigs [data-table=rigs]")
            assert await page.evaluate("() => window.pwned") is None
            assert await page.query_selector_all("main img, main script, main b") == []
            svgs = await page.eval_on_selector_all(
                "main svg", "s => s.map(x => x.getAttribute('class'))"
            )
            assert set(svgs) <= {"chart"}  # only the page's own charts
            name = await page.text_content("[data-table=sites] tbody [data-field=name]")
            assert name == SITE
            flagged = await page.eval_on_selector_all(
                "[data-table=flagged] tbody tr",
                "rs => rs.map(r => [r.dataset.rig, r.cells[0].textContent, "
                "r.cells[1].textContent, r.cells[2].textContent])",
            )
            assert flagged == [[RIG, SITE, RIG, MODEL_SHOWN]]
            family = await page.eval_on_selector_all(
                "#rigs tbody tr", "rs => rs.map(r => r.dataset.family)"
            )
            assert family == [FAMILY]
            heads = await page.eval_on_selector_all(
                "#rigs thead th", "hs => hs.map(h => h.textContent)"
            )
            assert STATE in heads
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-hostile.png"), full_page=True)

    try:
        asyncio.run(main())
    finally:
        server.close()
    assert errors == [], errors
