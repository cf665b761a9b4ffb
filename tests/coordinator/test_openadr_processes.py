"""OpenADR 2.0b end to end, all processes: a real openleadr VTN (tests/coordinator/vtn.py)
→ the coordinator as its VEN → per-site allotments in the signed feeds → two fleetd →
rigsim's meters under the new caps.

- an immediate SIMPLE level-2 event is opted into and becomes a live cut (portfolio x
  0.4): every meter under its new figure within the VTN's poll + the feed's poll + a
  control period + the rigs' shed time + slack; its cancellation restores the portfolio;
- an event with a signal the coordinator does not apply (ELECTRICITY_PRICE) is opted out
  of and changes nothing;
- a scheduled LOAD_DISPATCH setpoint is announced to the sites ahead (the feeds' `next`
  steps) and fleetd pre-sheds: zero energy above the cap from the event's start;
- the VEN reports the sites' metered power to the VTN as telemetry.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from surplus.demo.control_room import FAST_TIMINGS, ControlProcesses, Site
from surplus.demo.vtn import Script
from tests.components.process import free_port
from tests.waiting import wait_for, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

VTN_POLL_S, FEED_S, PERIOD_S, SLACK_S = 1.0, 0.5, 1.0, 2.0
SITES = (
    Site("a", "S19", 6, licence_mw=0.025, floor_mw=0.004),
    Site("b", "S21XP", 6, licence_mw=0.026, floor_mw=0.008),
)
LEAD_S = 15.0  # the scheduled event is announced this long before it starts


def cut_bound_s() -> float:
    return VTN_POLL_S + FEED_S + PERIOD_S + FAST_TIMINGS["shed_s"] + SLACK_S


def test_vtn_events_become_site_allotments(tmp_path: Path) -> None:
    figures: dict[str, Any] = {}

    async def main() -> None:
        async with Script(free_port(), tmp_path) as vtn:
            openadr = {"openadr": {"vtn_url": vtn.url, "ven_name": "surplus-control",
                                   "report_every_s": 1.0, "retry_s": 1.0}}  # fmt: skip
            async with ControlProcesses(SITES, tmp_path, {"policy": "pro_rata"}, openadr) as room:
                w = room.witness
                p0 = 1.02 * sum(room.full_draw_w(s.name) for s in SITES) / 1e6
                text = room.control_toml.read_text()
                room.control_toml.write_text(
                    text.replace("portfolio_mw = 0.0", f"portfolio_mw = {p0!r}")
                )
                await room.start_control()
                await room.start_fleetds()

                async def settled() -> bool:
                    st = await room.status()
                    ready = vtn.registered() and all(x["draw_mw"] for x in st["sites"])
                    return ready and await room.feeds_agree()

                await wait_until(
                    settled, 60, "the VEN registered and the sites on the signed figures"
                )

                # ---- an immediate SIMPLE level-2 event: a live cut to 40 %
                t_cut = time.time()
                vtn.event("e-now", "SIMPLE", "level", 2, duration_s=600)
                await wait_for(lambda: vtn.opts("e-now"), 20, "the VEN's answer to e-now")
                assert vtn.opts("e-now") == ["optIn"]
                st = await room.status()
                assert st["portfolio_now_mw"] == pytest.approx(0.4 * p0)
                cut = {x["name"]: x["allotment_mw"] for x in st["sites"]}
                assert sum(cut.values()) == pytest.approx(0.4 * p0)
                assert cut["a"] / cut["b"] == pytest.approx(0.025 / 0.026)  # pro rata to licence
                await w.wait(
                    lambda w: all(w.last(n)[0] <= cut[n] * 1e6 for n in cut),
                    cut_bound_s() + 30,
                    "the meters under the event's cut",
                )
                figures["live_cut_s"] = w.t[-1] - t_cut
                assert figures["live_cut_s"] <= cut_bound_s()

                # ---- a signal the coordinator does not apply: opted out, nothing changes
                vtn.event("e-price", "ELECTRICITY_PRICE", "price", 0.12, duration_s=60)
                await wait_for(lambda: vtn.opts("e-price"), 20, "the VEN's answer to e-price")
                assert vtn.opts("e-price") == ["optOut"]
                assert (await room.status())["portfolio_now_mw"] == pytest.approx(0.4 * p0)

                # ---- cancelled: the portfolio is back
                vtn.cancel("e-now")

                async def restored() -> bool:
                    return (await room.status())["portfolio_now_mw"] == pytest.approx(p0)

                await wait_until(restored, 20, "the portfolio restored after the cancellation")

                # ---- a scheduled LOAD_DISPATCH setpoint: announced, pre-shed, zero above
                setpoint_mw = 0.5 * p0
                start = time.time() + LEAD_S
                vtn.event("e-later", "LOAD_DISPATCH", "setpoint", setpoint_mw * 1e3,
                          duration_s=600, start_at=start)  # fmt: skip
                await wait_for(lambda: vtn.opts("e-later"), 20, "the VEN's answer to e-later")
                assert vtn.opts("e-later") == ["optIn"]
                assert time.time() < start - 5, "the announcement came too late to judge"
                st = await room.status()
                assert st["portfolio_now_mw"] == pytest.approx(p0)  # not yet
                # the steps are in fleetd's view of its feed: fleetd knows what is coming
                await w.wait(lambda w: w.t[-1] >= start + 8.0, LEAD_S + 30, "8 s into the event")
                st = await room.status()
                assert st["portfolio_now_mw"] == pytest.approx(setpoint_mw)
                during = {x["name"]: x["allotment_mw"] for x in st["sites"]}
                for n, mw in during.items():
                    peak = w.max_since(n, start)
                    assert peak <= mw * 1e6, f"site {n}: {peak:.0f} W above {mw * 1e6:.0f} W"
                total = [
                    sum(w.meter_w[s.name][k] for s in SITES)
                    for k, t in enumerate(w.t)
                    if t >= start
                ]
                assert max(total) <= setpoint_mw * 1e6
                figures["scheduled_peak_w"] = max(total)
                figures["setpoint_w"] = setpoint_mw * 1e6

                # ---- the VTN received the sites' metered power as telemetry
                await wait_for(lambda: any(v > 0 for v in vtn.reports()), 20,
                               "telemetry at the VTN")  # fmt: skip
                room.check_alive()

    asyncio.run(main())
    audit = [json.loads(x) for x in (tmp_path / "control-audit.jsonl").read_text().splitlines()]
    assert {(r["event_id"], r["opt"]) for r in audit if r["kind"] == "openadr"} >= {
        ("e-now", "optIn"),
        ("e-price", "optOut"),
        ("e-later", "optIn"),
    }
    print(
        f"openadr: live cut under in {figures['live_cut_s']:.2f} s (bound {cut_bound_s():g} s); "
        f"scheduled event peak {figures['scheduled_peak_w']:.0f} W <= {figures['setpoint_w']:.0f} W"
    )
