"""Energy the pool can vouch for, as processes: two real `surplus pool` processes on the
embedded devnet (the licensed pool and another one), `surplus rigsim` whose rigs mine
real SHA-256d shares, one of them at the other pool, two `surplus fleetd` sites and
`surplus control` reading the licensed pool's workers (coordinator.verify).

- the rig that mines at the other pool draws power and claims its hashrate, is credited
  nothing at the licensed pool, and is flagged once its observation window has passed
  (the first reading with the window and the expected share count the test needs);
- the honest rigs are not flagged;
- the status has the pool-verified J/TH per site and per model beside the claimed one;
- the regulator's report has each site's energy, the work the licensed pool credited it
  and their ratio;
- fleetd, told by the coordinator (PUT /sites/{site}/shed-first), sheds the flagged rig
  before the honest ones when its site's allotment has room for two of its three rigs;
- the console (in Debian's chromium) lists the flagged rig and the pool-verified figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from coordinator.audit import read_audit
from surplus.demo.control_room import OPS_TOKEN, ControlProcesses, Mining, Site
from tests.components.browser import ARTIFACTS, browser, require_browser
from tests.stratum.pool_process import PoolProcess
from tests.waiting import wait_until
from tests.web.page_pool import page_pool_config

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SITES = (
    Site("a", "S19", 3, licence_mw=0.02),
    Site("b", "S21XP", 3, licence_mw=0.02),
)
EVERY_S, WINDOW_S = 2.0, 30.0
SCALE = 100.0  # rigsim's real H/s per simulated TH/s


def pool_table(stats_url: str) -> dict[str, Any]:
    return {
        "stats_url": stats_url,
        "every_s": EVERY_S,
        "alpha": 1e-6,
        "min_window_s": WINDOW_S,
        "max_window_s": 4 * WINDOW_S,
        "min_expected_shares": 20.0,
        "max_ratio": 0.5,
        "hashes_per_th": SCALE,
        "shed_flagged": True,
    }


async def workers(stats_url: str) -> dict[str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{stats_url}/api/v1/workers", params={"account": "surplus", "limit": "1000"}
        ) as r,
    ):
        return {w["worker"]: w for w in (await r.json())["workers"]}


def test_a_rig_mining_at_another_pool_is_flagged(tmp_path: Path) -> None:
    require_browser()
    licensed = PoolProcess(tmp_path, page_pool_config(tmp_path / "l.sqlite3", ("surplus",)),
                           name="licensed")  # fmt: skip
    other = PoolProcess(tmp_path, page_pool_config(tmp_path / "o.sqlite3", ("surplus",)),
                        name="other")  # fmt: skip
    found: dict[str, Any] = {}

    async def main() -> None:
        await asyncio.gather(asyncio.to_thread(licensed.start), asyncio.to_thread(other.start))
        assert licensed.stats_url is not None and other.stats_url is not None
        mining = Mining(
            f"stratum+tcp://127.0.0.1:{licensed.port}",
            elsewhere={"a": (1, f"stratum+tcp://127.0.0.1:{other.port}")},
            hashrate_scale=SCALE,
        )
        async with ControlProcesses(
            SITES, tmp_path, {"portfolio_mw": 0.04, "policy": "pro_rata"},
            tables={"pool": pool_table(licensed.stats_url)}, mining=mining,
        ) as room:  # fmt: skip
            moved = next(r for r in room.fleet.rigs if r.pool_url is not None)
            found["moved"] = room.fleetd_rig_name(moved)
            await room.start_control()
            await room.start_fleetds()
            t0 = time.time()

            async def flagged() -> bool:
                st = await room.status()
                found["status"] = st
                return bool(st["flagged"])

            await wait_until(flagged, WINDOW_S + 60, "a rig flagged")
            found["after_s"] = time.time() - t0
            # it mines at the other pool, under the same worker name
            elsewhere = await workers(other.stats_url)
            assert elsewhere[f"surplus.{moved.name}"]["accepted_shares"] > 0
            assert f"surplus.{moved.name}" not in await workers(licensed.stats_url)
            # still only that rig, and the sites' figures
            st = await room.status()
            found["later"] = st
            code, text = await room.get_text(
                f"{room.control_url}/report?from={t0 - 60!r}&to={time.time()!r}",
                token=OPS_TOKEN,
            )
            assert code == 200, text
            found["report"] = json.loads(text)
            code, metrics = await room.get_text(
                f"http://127.0.0.1:{room.ports['control_metrics']}/metrics"
            )
            assert code == 200
            assert 'surplus_control_site_flagged_rigs{site="a"} 1.0' in metrics
            assert 'surplus_control_site_flagged_rigs{site="b"} 0.0' in metrics
            # fleetd was told to shed it first: with room for two of site a's three rigs,
            # the flagged one sleeps and the two honest ones run
            rig_w = moved.model.nameplate_w * 1.1
            code, _ = await room.post(
                "/sites/a/override", {"mw": 2.4 * rig_w / 1e6, "reason": "two rigs' worth"}
            )
            assert code == 200

            async def flagged_asleep() -> bool:
                rigs = (await room.get(f"{room.api('a')}/sites/a/rigs"))["rigs"]
                state = {r["name"]: r["intent"] for r in rigs}
                honest = [n for n in state if n != found["moved"]]
                return state[found["moved"]] == "asleep" and all(
                    state[n] == "awake" for n in honest
                )

            await wait_until(flagged_asleep, 40, "the flagged rig shed first")
            # asleep, it stays flagged (no window clears it), so fleetd keeps it shed
            async def still_flagged() -> bool:
                fl = (await room.status())["flagged"]
                return bool(fl) and fl[0]["earlier_window"] and fl[0]["rig"] == found["moved"]

            await wait_until(still_flagged, 20, "the sleeping rig still flagged")
            shed = list(read_audit(room.tmp / "control-audit.jsonl", ("shed-first",)))
            assert [(r["site"], r["rigs"]) for r in shed] == [("a", [found["moved"]])]

            # the console lists it, and the pool-verified figures per site and model
            async with browser(tmp_path / "chromium-profile",
                               viewport={"width": 1280, "height": 1000}) as ctx:  # fmt: skip
                page = await ctx.new_page()
                await page.goto(room.control_url + "/")
                flagged_row = f"[data-table=flagged] tr[data-rig='{found['moved']}']"
                await page.wait_for_selector(flagged_row)
                await page.wait_for_selector("[data-table=verified] tr[data-model=S21XP]")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "console-flagged.png"), full_page=True)
            room.check_alive()

    try:
        asyncio.run(main())
    finally:
        licensed.terminate()
        other.terminate()
    st = found["status"]
    [flag] = st["flagged"]
    assert flag["site"] == "a" and flag["rig"] == found["moved"]
    assert flag["shares"] == 0 and flag["known_at_pool"] is False
    assert flag["expected_shares"] >= 20 and flag["p_value"] < 1e-6
    # flagged at the first reading that had the window: within it plus two readings
    assert WINDOW_S <= flag["window_s"] <= WINDOW_S + 2 * EVERY_S + 2.0
    print(f"pool-verify: flagged after {found['after_s']:.1f} s of the sites' run, "
          f"window {flag['window_s']:.1f} s, expected {flag['expected_shares']:.1f} shares, "
          f"p={flag['p_value']:.2e}")  # fmt: skip
    later = found["later"]
    assert [f["rig"] for f in later["flagged"]] == [flag["rig"]]
    for s in later["sites"]:
        pv = s["pool_verified"]
        model = "S19" if s["name"] == "a" else "S21XP"
        m = pv["by_model"][model]
        assert m["credited_ths"] > 0 and m["jth_pool"] > 0 and m["jth_claimed"] > 0
        # the honest site is credited about what it claims (the machine may hash slower)
        if s["name"] == "b":
            assert 0.5 < m["credited_ths"] / m["claimed_ths"] < 1.5, m
        else:  # a third of site a hashes for someone else
            assert m["credited_ths"] / m["claimed_ths"] < 0.9, m
            assert m["jth_pool"] > m["jth_claimed"]
        assert pv["jth_pool"] is not None
        # merit order's pool figure is the site's own rigs' workers (the sites share an account)
        assert s["jth_source"] == "pool"
        assert s["pool_ths"] == pytest.approx(pv["credited_ths"], rel=1e-6)
        # the regulator's report: the site's energy, the work credited, their ratio
        rep = found["report"]["sites"][s["name"]]["totals"]
        assert rep["energy_kwh"] > 0 and rep["credited_th"] > 0
        assert rep["jth_pool"] == pytest.approx(rep["energy_kwh"] * 3.6e6 / rep["credited_th"],
                                                rel=1e-3)  # fmt: skip
        print(f"pool-verify: site {s['name']} J/TH pool {pv['jth_pool']:.1f} "
              f"claimed {pv['jth_claimed']:.1f}")  # fmt: skip
