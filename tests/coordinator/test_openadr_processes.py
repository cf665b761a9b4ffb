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
from surplus.demo.vtn import child as vtn_child
from tests.components.process import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

VTN_POLL_S, FEED_S, PERIOD_S, SLACK_S = 1.0, 0.5, 1.0, 2.0
SITES = (
    Site("a", "S19", 6, licence_mw=0.025, floor_mw=0.004),
    Site("b", "S21XP", 6, licence_mw=0.026, floor_mw=0.008),
)
LEAD_S = 15.0  # the scheduled event is announced this long before it starts


def cut_bound_s() -> float:
    return VTN_POLL_S + FEED_S + PERIOD_S + FAST_TIMINGS["shed_s"] + SLACK_S


def vtn_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_vtn_events_become_site_allotments(tmp_path: Path) -> None:
    port = free_port()
    events, log = tmp_path / "vtn-events.jsonl", tmp_path / "vtn-log.jsonl"
    events.write_text("")
    figures: dict[str, Any] = {}

    def send(**spec: Any) -> None:
        with events.open("a") as f:
            f.write(json.dumps(spec) + "\n")

    def opts(event_id: str) -> list[str]:
        return [
            x["opt_type"] for x in vtn_log(log) if x["kind"] == "opt" and x["event_id"] == event_id
        ]

    async def main() -> None:
        vtn = vtn_child(port, events, log, tmp_path / "vtn.out")
        await vtn.start()
        openadr = {
            "openadr": {
                "vtn_url": f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
                "ven_name": "surplus-control",
                "report_every_s": 1.0,
                "retry_s": 1.0,
            }
        }
        try:
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
                    registered = any(x["kind"] == "registered" for x in vtn_log(log))
                    ready = registered and all(x["draw_mw"] for x in st["sites"])
                    return ready and await room.feeds_agree()

                await wait_until(
                    settled, 60, "the VEN registered and the sites on the signed figures"
                )

                # ---- an immediate SIMPLE level-2 event: a live cut to 40 %
                t_cut = time.time()
                send(
                    id="e-now",
                    signal="SIMPLE",
                    type="level",
                    start_in_s=0,
                    duration_s=600,
                    payload=2,
                )

                async def opted(event_id: str) -> bool:
                    return bool(opts(event_id))

                await wait_until(lambda: opted("e-now"), 20, "the VEN's answer to e-now")
                assert opts("e-now") == ["optIn"]
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
                send(
                    id="e-price",
                    signal="ELECTRICITY_PRICE",
                    type="price",
                    start_in_s=0,
                    duration_s=60,
                    payload=0.12,
                )
                await wait_until(lambda: opted("e-price"), 20, "the VEN's answer to e-price")
                assert opts("e-price") == ["optOut"]
                assert (await room.status())["portfolio_now_mw"] == pytest.approx(0.4 * p0)

                # ---- cancelled: the portfolio is back
                send(cancel="e-now")

                async def restored() -> bool:
                    return (await room.status())["portfolio_now_mw"] == pytest.approx(p0)

                await wait_until(restored, 20, "the portfolio restored after the cancellation")

                # ---- a scheduled LOAD_DISPATCH setpoint: announced, pre-shed, zero above
                setpoint_mw = 0.5 * p0
                start = time.time() + LEAD_S
                send(
                    id="e-later",
                    signal="LOAD_DISPATCH",
                    type="setpoint",
                    start_at=start,
                    duration_s=600,
                    payload=setpoint_mw * 1e3,
                )
                await wait_until(lambda: opted("e-later"), 20, "the VEN's answer to e-later")
                assert opts("e-later") == ["optIn"]
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
                async def reported() -> bool:
                    return any(x["kind"] == "report" and x["value"] > 0 for x in vtn_log(log))

                await wait_until(reported, 20, "telemetry at the VTN")
                room.check_alive()
        finally:
            await vtn.stop(10.0)

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
