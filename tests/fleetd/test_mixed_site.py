"""A mixed site (LuxOS, Braiins OS+, stock Antminer, Whatsminer v2 and v3) as processes:
`surplus rigsim` and `surplus fleetd`, the grid operator's feed served here, the site
meter rigsim serves as the only witness. Timings are compressed (seconds); every bound is
derived from the config (each family's response time) and the rig models, plus a stated
slack, never measured.

One run, judged on four points:
- settled at a constant allotment, the site makes >= 98 % of an LP optimum that respects
  each rig's granularity (LuxOS profiles, Braiins' continuous range above its minimum,
  stock normal/low/sleep, Whatsminer 1 % steps), from rigsim's own models;
- an unannounced 30 % cut is under the cap within the feed's poll + one control period +
  the slowest shed rig's response time (its family's, from fleetd's config);
- that cut sheds the fastest families first: no Braiins OS rig (the slow autotuner) is
  turned down by the first plan after it, when the others can meet it;
- a scheduled drop (announced on the feed) has zero energy above the cap.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from fleetd.audit import AuditRecord
from rigsim.fleet import Fleet
from tests.fleetd.fleetd_rigsim import lp_optimum
from tests.fleetd.site_procs import FAST_TIMINGS, Group, SiteProcesses, SiteSpec, gather_for
from tests.fleetd.test_site_processes import Run, cut_to, scenario, start_at

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

FEED_S = 1.0
PERIOD_S = 2.0
SLACK_S = 1.0  # the witness's 0.1 s sampling, rigsim's tick, the fan-out on a loaded machine
PUE, AUX_KW = 1.1, 5.0
TIMINGS = FAST_TIMINGS | {"tune_down_s": 6.0, "tune_up_s": 8.0, "restart_s": 4.0,
                          "restart_api_s": 1.0}  # fmt: skip
# each family's response time as fleetd is told it: the rigs' own shed (rigsim's model,
# above) and a second for the fan-out; a stock or Whatsminer restart drops the draw at once
RESPONSE_S = {"luxos": TIMINGS["shed_s"] + 1.0, "braiins": TIMINGS["tune_down_s"] + 1.0,
              "stock": TIMINGS["shed_s"] + 1.0, "whatsminer": TIMINGS["shed_s"] + 1.0}  # fmt: skip
SECRETS = {"SURPLUS_TEST_BRAIINS_PW": "root", "SURPLUS_TEST_ANTMINER_PW": "root",
           "SURPLUS_TEST_WHATSMINER_PW": "admin", "SURPLUS_TEST_WHATSMINER_V3_PW": "super"}
FAMILY = {"luxos": "luxos", "braiins": "braiins", "antminer": "stock",
          "whatsminer": "whatsminer"}  # fmt: skip

MIXED = SiteSpec(
    groups=(
        Group("S19", 20, firmware="luxos"),
        Group("S19XP", 15, firmware="braiins"),
        Group("S21", 10, firmware="braiins"),
        Group("S19jPro", 20, firmware="antminer"),
        Group("M50", 15, firmware="whatsminer"),
        Group("M60", 10, firmware="whatsminer", whatsminer_api="v3"),
    ),
    allotment_mw=0.0, pue=PUE, aux_kw=AUX_KW, timings=TIMINGS,
    site={"control_period_s": PERIOD_S, "response_s": RESPONSE_S["luxos"],
          "min_awake_s": 20.0, "min_asleep_s": 10.0},
    drivers={
        "read_timeout_s": 2.0, "command_timeout_s": 5.0,
        "luxos": {"response_s": RESPONSE_S["luxos"]},
        "braiins": {"username": "root", "password_env": "SURPLUS_TEST_BRAIINS_PW",
                    "response_s": RESPONSE_S["braiins"]},
        "stock": {"username": "root", "password_env": "SURPLUS_TEST_ANTMINER_PW",
                  "response_s": RESPONSE_S["stock"]},
        "whatsminer": {"password_env": "SURPLUS_TEST_WHATSMINER_PW",
                       "v3_password_env": "SURPLUS_TEST_WHATSMINER_V3_PW",
                       "response_s": RESPONSE_S["whatsminer"]},
    },
)  # fmt: skip


# ---------------------------------------------------------------------- the optimum


def _points(fleet: Fleet, i: int) -> list[tuple[float, float]]:
    """(watts, TH/s) a rig may run at within its firmware's granularity (sleep first),
    from rigsim's own model: the points the emulator really gives."""
    rig = fleet.rigs[i]
    m = rig.model
    pts = [(m.sleep_w, 0.0)]
    if rig.firmware == "luxos":
        return pts + [(p.watts, p.ths) for p in m.profiles]
    lo, hi = m.watt_range()
    if rig.firmware == "antminer":
        low = m.low_power_fraction * m.nameplate_w
        return [*pts, (low, m.ths_at(m.clock_for_watts(low))), (m.nameplate_w, m.nameplate_ths)]
    if rig.firmware == "whatsminer":  # 1 % steps of the limit (nameplate), down to lo
        ws = [w for w in (m.nameplate_w * k / 100 for k in range(1, 101)) if w >= lo]
    else:  # Braiins: any whole watt in the tuner's range
        ws = list(np.linspace(lo, hi, 60))
    return pts + [(w, m.ths_at(m.clock_for_watts(w))) for w in ws]


def optimum_ths(fleet: Fleet, rig_budget_w: float) -> float:
    """The LP relaxation's optimum over every rig's granular points."""
    return lp_optimum([_points(fleet, i) for i in range(len(fleet.rigs))], rig_budget_w)


# ---------------------------------------------------------------------- the run


def family_of(site: SiteProcesses) -> dict[str, str]:
    """fleetd's family of each rig, by address."""
    return {r.address: FAMILY[r.firmware] for r in site.fleet.rigs}


def shed_commands(commands: list[AuditRecord], t0: float, t1: float) -> list[AuditRecord]:
    """Answered commands in [t0, t1) that take load off (a sleep, or a lower target)."""
    return [c for c in commands if t0 <= float(c.extra.get("at", c.ts)) < t1 and c.ok
            and c.command is not None
            and (c.command == "sleep" or float(c.extra.get("shed_w", 0.0)) > 0)]  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)  # fleetd reads each family's password from its environment

    async def body(site: SiteProcesses, run: Run) -> None:
        cap0 = await start_at(site, run, 0.7)
        await gather_for(site, 40.0)  # holds of 10-20 s, swaps waiting for Braiins' tuner
        run.marks["measure"] = time.time()
        await gather_for(site, 8.0)
        run.marks["settled"] = time.time()
        run.views["summary"] = await site.summary()
        assert site._http is not None
        async with site._http.get(f"{site.api}/sites/s/rigs") as r:
            run.views["rigs"] = await r.json()
        await cut_to(site, run, 0.7 * cap0, FEED_S + PERIOD_S + max(RESPONSE_S.values())
                     + SLACK_S + 6.0)  # fmt: skip
        run.caps["drop"] = 0.8 * run.caps["cut"]
        lead = PERIOD_S + max(RESPONSE_S.values())  # what fleetd pre-sheds ahead
        at = time.time() + lead + 3 * FEED_S + 8.0
        site.feed.announce(at, run.caps["drop"] / 1e6)
        run.marks["drop"] = at
        await gather_for(site, at - time.time() + 8.0)
        run.marks["after"] = time.time()

    try:
        return scenario(body, MIXED, tmp_path_factory.mktemp("mixed"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_settled_hashrate_is_near_the_granular_optimum(mixed: Run) -> None:
    cap = mixed.caps["start"]
    t0, t1 = mixed.marks["measure"], mixed.marks["settled"]
    rigs_w = (cap - AUX_KW * 1e3) / PUE
    best = optimum_ths(mixed.site.fleet, rigs_w)
    got = mixed.witness.mean_ths(t0, t1)
    assert got <= best * 1.001, f"{got:.0f} TH/s above the optimum {best:.0f}: bad optimum"
    assert got >= 0.98 * best, f"hashrate {got:.0f} TH/s is {got / best:.4f} of the optimum"
    assert mixed.witness.over(cap, t0, t1)[0] == 0.0
    summary: dict[str, Any] = mixed.views["summary"]
    assert summary["rigs_credentials_refused"] == 0 and summary["credentials_refused"] == []
    # each rig as fleetd declares it: its family's granularity and response time
    control = {"luxos": "profiles", "braiins": "watts", "stock": "modes",
               "whatsminer": "percent"}  # fmt: skip
    rigs = mixed.views["rigs"]["rigs"]
    assert len(rigs) == len(mixed.site.fleet.rigs)
    for row in rigs:
        assert row["control"] == control[row["firmware"]], row
        assert row["response_s"] == RESPONSE_S[row["firmware"]], row


def test_unannounced_cut_is_under_the_cap_within_a_period_and_the_slowest_response(
    mixed: Run,
) -> None:
    w, cap = mixed.witness, mixed.caps["cut"]
    t_cut = mixed.marks["cut"]
    shed = shed_commands(mixed.commands, t_cut, t_cut + FEED_S + PERIOD_S + SLACK_S)
    assert shed, "nothing was shed for the cut"
    families = family_of(mixed.site)
    slowest = max(RESPONSE_S[families[c.rig]] for c in shed if c.rig in families)
    bound = FEED_S + PERIOD_S + slowest + SLACK_S
    assert w.over(cap, t_cut, t_cut + 1.0)[0] > 0, "the cut should have left the site over"
    secs, kwh, worst = w.over(cap, t_cut + bound, mixed.marks["drop"])
    assert secs == 0.0, (f"meter above the cap {secs:.1f} s ({kwh:.4f} kWh, up to "
                         f"{worst / 1e3:.1f} kW) later than {bound:.1f} s after the cut")


def test_the_cut_sheds_the_fastest_families_first(mixed: Run) -> None:
    t_cut = mixed.marks["cut"]
    window = shed_commands(mixed.commands, t_cut, t_cut + FEED_S + PERIOD_S)
    assert window, "no shed after the cut"
    # the first plan after the cut (a loaded machine may fit a second plan in the window,
    # which may rightly reach for Braiins rigs once the fast ones are spent)
    earliest = min(window, key=lambda c: float(c.extra.get("at", c.ts)))
    first = [c for c in window if c.plan_id == earliest.plan_id]
    families = {family_of(mixed.site).get(c.rig or "") for c in first}
    assert first and "braiins" not in families, (earliest.plan_id, families)


def test_a_scheduled_drop_has_no_energy_above_the_cap(mixed: Run) -> None:
    w = mixed.witness
    t_drop, t_end = mixed.marks["drop"], mixed.marks["after"]
    secs, kwh, worst = w.over(mixed.caps["drop"], t_drop, t_end)
    assert secs == 0.0 and kwh == 0.0, (f"{secs:.1f} s ({kwh:.4f} kWh, up to "
                                        f"{worst / 1e3:.1f} kW) above the scheduled cap")
    assert w.over(mixed.caps["cut"], t_drop - 10.0, t_drop)[0] == 0.0
    assert w.mean_w(t_end - 3.0, t_end) <= mixed.caps["drop"]


_ = asyncio  # the scenario runs its own loop (tests.fleetd.test_site_processes.scenario)


# ---------------------------------------------------------------------- wrong credentials

REFUSED = SiteSpec(
    groups=(Group("S19", 6, firmware="luxos"), Group("S19jPro", 3, firmware="antminer"),
            Group("M50", 3, firmware="whatsminer")),
    allotment_mw=0.0, pue=PUE, aux_kw=AUX_KW, timings=TIMINGS,
    site={"control_period_s": PERIOD_S, "response_s": RESPONSE_S["luxos"],
          "min_awake_s": 20.0, "min_asleep_s": 10.0},
    drivers={"read_timeout_s": 2.0, "command_timeout_s": 5.0,
             "stock": {"password_env": "SURPLUS_TEST_WRONG_PW"},
             "whatsminer": {"password_env": "SURPLUS_TEST_WRONG_PW"}},
)  # fmt: skip


def test_rigs_refusing_the_credentials_are_reported_and_counted_at_nameplate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stock Antminers and Whatsminers refuse the configured password: fleetd says so
    in its log, its /sites view and its metrics, counts them at nameplate, and keeps the
    site under the cap with the rigs it can drive."""
    monkeypatch.setenv("SURPLUS_TEST_WRONG_PW", "not-the-password")
    refusing: set[str] = set()

    async def body(site: SiteProcesses, run: Run) -> None:
        refusing.update(r.address for r in site.fleet.rigs if r.firmware != "luxos")
        cap = await start_at(site, run, 0.75)  # fleetd must command every family

        def reported(summary: dict[str, Any]) -> bool:
            return bool(summary["rigs_credentials_refused"] == len(refusing))

        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            summary = await site.summary()
            if reported(summary):
                break
            await gather_for(site, PERIOD_S)
        run.views["summary"] = summary
        run.views["plan"] = await site.plan()
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{site.ports['metrics']}/metrics"
        ) as r:
            run.views["metrics"] = await r.text()
        run.caps["cap"] = cap
        run.marks["end"] = time.time()

    run = scenario(body, REFUSED, tmp_path)
    summary = run.views["summary"]
    assert summary["rigs_credentials_refused"] == len(refusing) == 6, summary
    assert set(summary["credentials_refused"]) == refusing
    assert 'surplus_fleetd_rigs_credentials_refused{site="s"} 6.0' in run.views["metrics"]
    log = (tmp_path / "fleetd.log").read_text()
    assert "credentials refused" in log and "not-the-password" not in log
    idx = [i for i, r in enumerate(run.site.fleet.rigs) if r.address in refusing]
    plate = sum(run.site.fleet.rigs[i].model.nameplate_w for i in idx)
    assert run.views["plan"]["unplanned_kw"] * 1e3 >= plate - 1.0  # counted at nameplate
