"""fleetd as its own OpenADR 2.0b VEN, all processes: a real openleadr VTN process
(surplus.demo.vtn) → fleetd's `openadr` allotment source → fleetd's plan → rigsim's
meter under the new cap. One site, no coordinator.

- fleetd registers with the VTN;
- an immediate SIMPLE level-2 event is opted into and cuts the site to 0.4 x base_mw:
  the meter is under it within the VTN's poll + a control period + the rigs' shed time
  + slack; a signal fleetd does not apply (ELECTRICITY_PRICE) is opted out of and
  changes nothing; the cancellation lifts the cut;
- a scheduled LOAD_DISPATCH setpoint is announced ahead (the source's next_changes) and
  fleetd pre-sheds: zero energy above the setpoint from the event's start;
- the site's draw reaches the VTN as telemetry.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from surplus.demo.vtn import Script
from tests.components.process import free_port
from tests.fleetd.site_procs import FAST_TIMINGS, Group, SiteProcesses, SiteSpec, nameplate_w
from tests.waiting import wait_for, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

VTN_POLL_S, PERIOD_S, SLACK_S = 1.0, 1.0, 3.0
LEAD_S = 15.0


def cut_bound_s() -> float:
    return VTN_POLL_S + PERIOD_S + FAST_TIMINGS["shed_s"] + SLACK_S


def test_fleetd_as_a_ven_of_a_real_vtn(tmp_path: Path) -> None:
    figures: dict[str, float] = {}

    async def main() -> None:
        async with Script(free_port(), tmp_path) as vtn:
            # the site's base: its full draw and a little more (pue 1.1); the layout only
            probe = SiteProcesses(SiteSpec(groups=(Group("S19", 6),), allotment_mw=1.0), tmp_path)
            base = round(1.05 * 1.1 * nameplate_w(probe.fleet) / 1e6, 6)
            allotment = [
                {"kind": "constant", "name": "licence", "mw": base},
                {"kind": "openadr", "name": "grid", "base_mw": base, "retry_s": 1.0,
                 "report_every_s": 1.0, "vtn_url": vtn.url},
            ]  # fmt: skip
            spec = SiteSpec(groups=(Group("S19", 6),), allotment_mw=base,
                            site={"allotment": allotment, "min_awake_s": 5.0,
                                  "min_asleep_s": 5.0})  # fmt: skip
            async with SiteProcesses(spec, tmp_path) as site:
                w = site.witness

                async def settled() -> bool:
                    return vtn.registered() and bool(w.meter_w) and w.meter_w[-1] > 0.8 * base * 1e6

                await wait_until(settled, 60, "fleetd registered and the rigs hashing")

                # ---- an immediate SIMPLE level-2 event: a live cut to 40 %
                cap = 0.4 * base
                t_cut = time.time()
                vtn.event("e-now", "SIMPLE", "level", 2, duration_s=600)
                await wait_for(lambda: vtn.opts("e-now"), 20, "fleetd's answer to e-now")
                assert vtn.opts("e-now") == ["optIn"]

                async def cut_in_force() -> bool:
                    s = await site.summary()
                    return bool(s["allotment_mw"] == pytest.approx(cap))

                await wait_until(cut_in_force, 10, "the event's cut in force at fleetd")
                assert "grid" in (await site.summary())["allotment_reason"]
                await wait_for(lambda: bool(w.meter_w) and w.meter_w[-1] <= cap * 1e6,
                               cut_bound_s() + 30, "the meter under the live cut")
                figures["live_cut_s"] = w.t[-1] - t_cut
                assert figures["live_cut_s"] <= cut_bound_s()

                # ---- a signal fleetd does not apply: opted out, nothing changes
                vtn.event("e-price", "ELECTRICITY_PRICE", "price", 0.12, duration_s=60)
                await wait_for(lambda: vtn.opts("e-price"), 20, "the answer to e-price")
                assert vtn.opts("e-price") == ["optOut"]
                assert (await site.summary())["allotment_mw"] == pytest.approx(cap)

                # ---- cancelled: the licence binds again
                vtn.cancel("e-now")

                async def lifted() -> bool:
                    return bool((await site.summary())["allotment_mw"] == pytest.approx(base))

                await wait_until(lifted, 20, "the cut lifted after the cancellation")

                # ---- a scheduled setpoint: announced, pre-shed, zero above from its start
                setpoint = 0.5 * base
                start = time.time() + LEAD_S
                vtn.event("e-later", "LOAD_DISPATCH", "setpoint", setpoint * 1e3, duration_s=600,
                          start_at=start)  # fmt: skip
                await wait_for(lambda: vtn.opts("e-later"), 20, "the answer to e-later")
                assert vtn.opts("e-later") == ["optIn"]
                assert time.time() < start - 5, "the announcement came too late to judge"
                assert (await site.summary())["allotment_mw"] == pytest.approx(base)  # not yet
                await wait_for(lambda: bool(w.t) and w.t[-1] >= start + 8.0, LEAD_S + 30,
                               "8 s into the scheduled event")
                assert (await site.summary())["allotment_mw"] == pytest.approx(setpoint)
                seconds, kwh, worst = w.over(setpoint * 1e6, start)
                assert seconds == 0.0 and kwh == 0.0, (seconds, kwh, worst)
                figures["scheduled_worst_w"] = worst

                # ---- the VTN received the site's draw as telemetry
                await wait_for(lambda: any(v > 0 for v in vtn.reports()), 20,
                               "telemetry at the VTN")  # fmt: skip
                site.check_alive()

    asyncio.run(main())
    worst = figures["scheduled_worst_w"]
    print(f"fleetd VEN: live cut under in {figures['live_cut_s']:.2f} s (bound "
          f"{cut_bound_s():g} s); during the scheduled setpoint the meter peaked "
          f"{-worst:.0f} W under it")  # fmt: skip
