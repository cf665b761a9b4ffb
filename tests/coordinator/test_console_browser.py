"""The operator's console in a real browser (Debian's chromium through Playwright)
against real processes: `surplus rigsim` emulating two sites' rigs and meters, a
`surplus fleetd` per site on the coordinator's signed feed, and `surplus control`
serving the console.

One run, in order, clicking through the page as an operator would:
- the console shows what /status answers (every site's allotment, draw, licence), a
  chart per site with allotment and metered power, the rigs by family and state as
  fleetd has them, and says that no rigs are flagged (not tracked yet);
- an override typed in the page (with the token typed in the page) pins a site; its
  hostile reason renders as text (no element, no script); a wrong token is refused;
- an emergency stop from the page reaches every fleetd (every rig asleep) and the page
  shows it; resume lifts it;
- the compliance report downloads as CSV and as JSON;
- the last commands list the page's actions under the token's name;
- nothing loads from anywhere else, no script error; screenshots in .cache/artifacts/web.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from plumbing.webstatic import CSP
from surplus.demo.control_room import OPS_TOKEN, ControlProcesses, Site
from tests.components.browser import ARTIFACTS, browser, require_browser
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SITES = (
    Site("north", "S19", 4, licence_mw=0.02, floor_mw=0.004),
    Site("south", "S21XP", 4, licence_mw=0.02, floor_mw=0.004),
)
MESSAGE = "document.getElementById('message').textContent"
ACTIONS = "[...document.querySelectorAll('[data-table=commands] tr[data-kind=action]')]"
HOSTILE = '<img src=x onerror="window.pwned=1">drill</td><script>window.pwned=2</script>'


def shot(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"console-{name}.png")


async def rows(page: Any) -> dict[str, dict[str, str]]:
    return {r["site"]: r for r in await page.eval_on_selector_all(
        "[data-table=sites] tbody tr",
        """rows => rows.map(r => {
            const o = {site: r.dataset.site};
            for (const c of r.querySelectorAll('[data-field]')) {
                const v = c.dataset.value;
                o[c.dataset.field] = v === undefined ? c.textContent : v;
            }
            return o; })""")}  # fmt: skip


def test_the_console_in_a_browser(tmp_path: Path) -> None:
    require_browser()
    errors: list[str] = []
    requests: list[str] = []
    origin: list[str] = []

    async def main() -> None:
        async with ControlProcesses(SITES, tmp_path, {"portfolio_mw": 0.03}) as room:
            await room.start_control()
            origin.append(room.control_url + "/")
            await room.start_fleetds()
            await wait_until(room.feeds_agree, 60, "both sites on the coordinator's figures")
            profile = tmp_path / "chromium-profile"
            async with browser(profile, viewport={"width": 1280, "height": 1000},
                               accept_downloads=True) as ctx:  # fmt: skip
                page = await ctx.new_page()
                page.on("console", lambda m: errors.append(f"console: {m.text}")
                        if m.type == "error" else None)  # fmt: skip
                page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                page.on("request", lambda r: requests.append(r.url))
                response = await page.goto(room.control_url + "/")
                assert response is not None and response.status == 200
                assert response.headers["content-security-policy"] == CSP
                await page.wait_for_selector("[data-table=sites] tbody tr[data-site=south]")

                # ---- the view: what /status says, charts, rigs by family and state
                async def shown_matches() -> bool:
                    st = await room.status()
                    shown = await rows(page)
                    return all(
                        s["allotment_mw"] is not None
                        and float(shown[s["name"]]["allotment_mw"])
                        == pytest.approx(s["allotment_mw"])
                        and float(shown[s["name"]]["licence_mw"]) == s["licence_mw"]
                        and shown[s["name"]]["draw_mw"] != ""
                        for s in st["sites"]
                    )

                await wait_until(shown_matches, 30, "the page showing /status's figures")
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('figure.chart-box')]"
                    ".filter(f => Number(f.dataset.points) >= 2 && "
                    "f.querySelector('[data-series=draw]') && "
                    "f.querySelector('[data-series=allotment]')).length === 2",
                    timeout=30_000,
                )
                await page.wait_for_function(
                    "() => document.querySelectorAll('#rigs [data-table=rigs]').length === 2",
                    timeout=30_000,
                )
                for s in SITES:
                    counts = await page.eval_on_selector_all(
                        f"#rigs .rigs[data-site={s.name}] tbody tr",
                        "rs => rs.map(r => [r.dataset.family, "
                        "Number(r.lastElementChild.dataset.value)])",
                    )
                    assert counts == [["luxos", s.count]], counts
                    models = await page.text_content(
                        f"#rigs .rigs[data-site={s.name}] [data-field=models]"
                    )
                    assert models == f"Models: {s.model}: {s.count}"
                flagged = await page.text_content("[data-field=flagged-none]")
                assert flagged is not None and flagged.startswith("None tracked")
                await page.screenshot(path=shot("view"), full_page=True)

                # ---- an override from the page, with the token typed in the page
                await page.select_option("#override-site", "south")
                await page.fill("#override-mw", "0.01")
                await page.fill("#override-reason", HOSTILE)
                await page.fill("#token", "wrong-token-0123456789")
                await page.click("#override-set")
                await page.wait_for_function(
                    f"() => {MESSAGE}.includes('401') || {MESSAGE}.includes('token')"
                )
                assert all(s["override"] is None for s in (await room.status())["sites"])
                await page.fill("#token", OPS_TOKEN)
                await page.click("#override-set")
                await page.wait_for_function(f"() => {MESSAGE}.startsWith('Override on south')")
                st = await room.status()
                south = next(s for s in st["sites"] if s["name"] == "south")
                assert south["override"]["mw"] == 0.01 and south["override"]["by"] == "ops"
                await page.wait_for_function(
                    "() => document.querySelector('tr[data-site=south] [data-field=override]')"
                    ".dataset.value === '0.01'"
                )
                await page.wait_for_function(
                    f"() => {ACTIONS}.some(r => r.textContent.includes('drill'))"
                )
                assert await page.evaluate("() => window.pwned") is None
                assert await page.query_selector("main img, main script") is None
                reasons = await page.eval_on_selector_all(
                    "[data-table=commands] tr[data-kind=action] td:last-child",
                    "cs => cs.map(c => c.textContent)",
                )
                assert HOSTILE in reasons
                await wait_until(
                    lambda: _under(room, "south", 0.01), 30, "south's meter under its override"
                )
                await page.screenshot(path=shot("override"), full_page=True)

                # ---- emergency stop and resume from the page
                await page.fill("#stop-reason", "fire drill")
                await page.click("#stop")
                await page.wait_for_selector("#emergency:not([hidden])")
                banner = await page.text_content("#emergency")
                assert banner is not None and "EMERGENCY STOP by ops" in banner
                for s in SITES:
                    assert (await room.get(f"{room.api(s.name)}/sites/{s.name}"))["emergency"]
                await room.witness.wait(
                    lambda w: all(w.last(s.name)[0] < 1000 for s in SITES), 40, "every rig asleep"
                )
                await page.screenshot(path=shot("emergency"), full_page=True)
                await page.click("#resume")
                await page.wait_for_selector("#emergency[hidden]", state="attached")
                await page.wait_for_function(f"() => {MESSAGE}.startsWith('Resumed')")
                for s in SITES:
                    assert not (await room.get(f"{room.api(s.name)}/sites/{s.name}"))["emergency"]

                # ---- the report, downloaded as CSV and JSON
                async with page.expect_download() as got:
                    await page.click("#report-csv")
                csv_path = ARTIFACTS / "console-report.csv"
                await (await got.value).save_as(csv_path)
                table = list(csv.DictReader(io.StringIO(csv_path.read_text())))
                assert table and {r["site"] for r in table} >= {"north", "south"}
                async with page.expect_download() as got:
                    await page.click("#report-json")
                json_path = ARTIFACTS / "console-report.json"
                await (await got.value).save_as(json_path)
                doc = json.loads(json_path.read_text())
                assert set(doc["sites"]) == {"north", "south"}
                assert doc["sites"]["north"]["totals"]["energy_kwh"] > 0

                # ---- the last commands, under the token's name
                await page.wait_for_function(f"() => {ACTIONS}.length >= 3")
                acted = await page.eval_on_selector_all(
                    "[data-table=commands] tr[data-kind=action]",
                    "rs => rs.map(r => [r.cells[4].textContent, r.cells[5].textContent])",
                )
                assert acted[:3] == [["resume", "ops"], ["emergency-stop", "ops"],
                                     ["override", "ops"]]  # fmt: skip
                signals = await page.eval_on_selector_all(
                    "[data-table=commands] tr[data-kind=command] [data-field=signal]",
                    "cs => cs.map(c => c.textContent)",
                )
                assert any(x.startswith("emergency stop by ops") for x in signals)
                await page.screenshot(path=shot("after"), full_page=True)

                # ---- a phone
                await page.set_viewport_size({"width": 390, "height": 844})
                await page.screenshot(path=shot("phone"), full_page=True)
                await page.close()
            room.check_alive()

    asyncio.run(main())
    # the one refused action (the wrong token) is the only failed load; no script error
    refused = [e for e in errors if "status of 401" in e]
    assert len(refused) == 1 and len(errors) == 1, errors
    # nothing from elsewhere: the coordinator's own address, and the report's blob
    assert all(u.startswith((origin[0], "blob:")) for u in requests), requests


async def _under(room: ControlProcesses, site: str, mw: float) -> bool:
    return bool(room.witness.last(site)) and room.witness.last(site)[0] <= mw * 1e6
