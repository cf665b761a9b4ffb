"""fleetd holds the cap when things go wrong (issue 19, findings 1, 2, 3, 7, 8 and 9):
`surplus rigsim` and `surplus fleetd` as separate processes, the grid operator's live
feed served here, and the site meter rigsim serves as the only witness.

Rig timings are compressed (boot, ramp and shed in seconds) and every bound is derived
from the config and the rig models, never measured: an unannounced cut must be answered
within the feed's poll interval + one control period + the rigs' own shed time (from
rigsim's models), plus `SLACK_S` for the witness's sampling and a loaded machine. Each
run is one pair of processes; several findings are judged on the same run.

    run        the site                                     findings judged
    faulty     10 % unreachable (half refuse, half silent),  8 start over a hot site
               2 slow rigs, default driver timeouts          2 a cut; 9 no false re-sleep
    steady     healthy, default margin, a constant hall      7 hashrate vs the optimum
    offset     healthy; 10 kW of auxiliary load more than    3 a cut, within the bound
               fleetd is told (the meter is the truth)
    raise      half asleep, long boots (14 s)                1 a raise never overshoots
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fleetd.audit import AuditRecord
from tests.fleetd.fleetd_rigsim import optimum_ths
from tests.fleetd.site_procs import (
    FAST_TIMINGS,
    Group,
    SiteProcesses,
    SiteSpec,
    Witness,
    gather_for,
    nameplate_w,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

FEED_S = 1.0  # the grid feed's poll interval
SLACK_S = 0.6  # the witness's 0.1 s sampling, rigsim's 0.1 s tick, a loaded 2-core machine
PUE, AUX_KW, HALL_KW = 1.1, 5.0, 30.0


def cut_bound(spec: SiteSpec, site: SiteProcesses) -> float:
    """Seconds from a cut's publication to the meter under the new cap: the feed's poll,
    one control period, the rigs' own shed time (rigsim's models), and the slack."""
    return spec.feed_interval_s + spec.site["control_period_s"] + site.shed_s() + SLACK_S


def site_cfg(**extra: Any) -> dict[str, Any]:
    """fleetd's site settings: the rigs' response (fan-out plus their 1.5 s shed) told."""
    return {"control_period_s": 2.0, "response_s": FAST_TIMINGS["shed_s"] + 1.0,
            "min_awake_s": 20.0, "min_asleep_s": 10.0} | extra  # fmt: skip


@dataclass
class Run:
    """What one pair of processes did: the witness, fleetd's audit, and the moments."""

    spec: SiteSpec
    site: SiteProcesses
    witness: Witness
    commands: list[AuditRecord]
    marks: dict[str, float] = field(default_factory=dict)
    caps: dict[str, float] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)

    def cap_at(self, t: np.ndarray) -> np.ndarray:
        """The allotment in force at each time (a step at each published change)."""
        cap = np.full(t.shape, np.nan)
        for name in sorted(self.marks, key=self.marks.get):  # type: ignore[arg-type]
            if name in self.caps:
                cap = np.where(t >= self.marks[name], self.caps[name], cap)
        return cap


async def full_draw_w(site: SiteProcesses) -> float:
    """The meter with every rig up as rigsim started them (before fleetd runs)."""
    await wait_for(lambda: len(site.witness.t) >= 5, 10.0, "five meter samples", interval=0.05)
    return float(np.mean(site.witness.meter_w[-5:]))


async def start_at(site: SiteProcesses, run: Run, share: float) -> float:
    """The allotment at `share` of the site's full draw, then fleetd started (mark
    "start"; "ready" once its API answers); returns the cap."""
    cap = share * await full_draw_w(site)
    run.caps["start"] = cap
    site.feed.publish(cap / 1e6)
    run.marks["start"] = await site.start_fleetd_process()
    run.marks["ready"] = time.time()
    return cap


async def cut_to(site: SiteProcesses, run: Run, cap_w: float, watch_s: float) -> None:
    """An unannounced change of the allotment to `cap_w` (mark "cut"), watched `watch_s`
    (mark "end")."""
    run.caps["cut"] = cap_w
    run.marks["cut"] = site.feed.publish(cap_w / 1e6)
    await gather_for(site, watch_s)
    run.marks["end"] = time.time()


def scenario(body: Callable[[SiteProcesses, Run], Any], spec: SiteSpec, tmp: Path) -> Run:
    """Run `body` against the processes of `spec`; returns the run's record."""

    async def main() -> Run:
        async with SiteProcesses(spec, tmp, start_fleetd=False) as site:
            run = Run(spec, site, site.witness, [])
            await body(site, run)
            site.check_alive()
        run.commands = site.commands()
        return run

    return asyncio.run(main())


# ---------------------------------------------------------------------- faulty: 8, 2, 9

FAULTY = SiteSpec(
    groups=(
        Group("S19", 38), Group("S19", 5, faults={"unreachable": "refuse"}),
        Group("S19", 5, faults={"unreachable": "blackhole"}),
        Group("S19", 2, faults={"api_delay_s": 2.0}), Group("S21XP", 50),
    ),
    allotment_mw=0.0, pue=PUE, aux_kw=AUX_KW, hall_kw=HALL_KW,
    timings=FAST_TIMINGS | {"shed_s": 6.0},  # about a real rig's ramp down
    site=site_cfg(control_period_s=5.0, margin_kw=1.0, response_s=7.0),  # a real period
)  # fmt: skip


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Run:
    async def body(site: SiteProcesses, run: Run) -> None:
        cap0 = await start_at(site, run, 0.6)  # the site runs flat out against 60 %
        await gather_for(site, cut_bound(FAULTY, site) + 3.0)
        # long enough for a round of reads held up by the silent rigs (5 s + a retry)
        # to be judged after the grace period
        await cut_to(site, run, 0.7 * cap0, 18.0)
        run.views["plan"] = await site.plan()

    return scenario(body, FAULTY, tmp_path_factory.mktemp("faulty"))


def test_start_over_a_hot_site_reaches_the_cap_within_the_cut_bound(faulty: Run) -> None:
    """Finding 8: fleetd starts while the site draws ~100 % of nameplate against a 60 %
    allotment, 10 % of its rigs silent or refusing: the first plan acts on the meter
    before every rig is read, and the meter is under the cap within the bound of an
    unannounced cut from the moment fleetd is up."""
    w, cap = faulty.witness, faulty.caps["start"]
    t0, t1 = faulty.marks["ready"], faulty.marks["cut"]
    bound = cut_bound(faulty.spec, faulty.site)
    assert w.over(cap, faulty.marks["start"] - 1.0, t0)[0] > 0, "the site was not over at start"
    secs, kwh, worst = w.over(cap, t0 + bound, t1)
    assert secs == 0.0, (f"meter above the cap {secs:.1f} s ({kwh:.3f} kWh, up to "
                         f"{worst / 1e3:.1f} kW) later than {bound:.1f} s after fleetd was up")


def test_cut_with_unreachable_and_slow_rigs_is_answered_within_the_bound(faulty: Run) -> None:
    """Finding 2: an unannounced 30 % cut on a site whose silent rigs take the default
    5 s (+ a retry) to time out and whose slow rigs answer 2 s late: the allotment is
    watched apart from rig I/O, slow rigs' sheds are covered by the others, and the meter
    is under the cap within the bound; unreachable rigs stay counted at nameplate."""
    w, cap = faulty.witness, faulty.caps["cut"]
    t_cut, t_end = faulty.marks["cut"], faulty.marks["end"]
    bound = cut_bound(faulty.spec, faulty.site)
    assert w.over(cap, t_cut, t_cut + 1.0)[0] > 0, "the cut should have left the site over"
    secs, kwh, worst = w.over(cap, t_cut + bound, t_end)
    assert secs == 0.0, (f"meter above the cap {secs:.1f} s ({kwh:.3f} kWh, up to "
                         f"{worst / 1e3:.1f} kW) later than {bound:.1f} s after the cut")
    cut_cmds = [c for c in faulty.commands if c.ts >= t_cut and c.ok]
    assert any(c.command == "sleep" for c in cut_cmds)
    lost = [i for k in (1, 2) for i in faulty.site.group_indices(k)]
    plan = faulty.views["plan"]
    assert plan["unplanned_kw"] * 1e3 >= nameplate_w(faulty.site.fleet, lost) - 1.0


def test_no_rig_is_re_slept_for_a_drift_it_never_made(faulty: Run) -> None:
    """Finding 9: no rig of this fleet wakes by itself, so fleetd sends no "drift:
    re-sleep" however late its readings come: a reading taken while a rig was still
    shedding, judged after the grace period because the silent rigs held up the reads,
    is no drift."""
    resleeps = [c for c in faulty.commands if c.extra.get("why") == "drift: re-sleep"]
    assert resleeps == [], f"{len(resleeps)} re-sleeps of rigs that never woke by themselves"
    assert any(c.command == "sleep" and c.ok for c in faulty.commands), "nothing was slept"


# ---------------------------------------------------------------------- steady: 7

STEADY = SiteSpec(
    groups=(Group("S19", 50), Group("S21XP", 50)), allotment_mw=0.0, pue=PUE,
    aux_kw=AUX_KW, hall_kw=HALL_KW, site=site_cfg(),  # the default margin: none
    drivers={"read_timeout_s": 1.0},
)  # fmt: skip


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> Run:
    async def body(site: SiteProcesses, run: Run) -> None:
        await start_at(site, run, 0.7)
        await gather_for(site, 14.0)
        run.marks["measure"] = time.time()
        await gather_for(site, 6.0)
        run.marks["end"] = time.time()

    return scenario(body, STEADY, tmp_path_factory.mktemp("steady"))


def test_hashrate_at_a_constant_allotment_is_near_the_optimum(steady: Run) -> None:
    """Finding 7: with the default margin, at a constant 70 % allotment, the fleet makes
    at least 0.98 of the LP optimum for the whole allotment less overhead and firm loads
    (rigsim's own ladders), and stays under the cap."""
    cap = steady.caps["start"]
    t0, t1 = steady.marks["measure"], steady.marks["end"]
    rigs_w = (cap - (AUX_KW + HALL_KW) * 1e3) / PUE
    best = optimum_ths(steady.site.fleet, rigs_w)
    got = steady.witness.mean_ths(t0, t1)
    assert got <= best * 1.001, f"{got:.0f} TH/s above the optimum {best:.0f}: bad optimum"
    assert got >= 0.98 * best, f"hashrate {got:.0f} TH/s is {got / best:.4f} of the optimum"
    assert steady.witness.over(cap, t0, t1)[0] == 0.0


# ---------------------------------------------------------------------- offset: 3

OFFSET = SiteSpec(
    groups=(Group("S19", 50), Group("S21XP", 50)), allotment_mw=0.0, pue=PUE,
    aux_kw=AUX_KW + 10.0, hall_kw=HALL_KW, drivers={"read_timeout_s": 1.0},
    site=site_cfg(control_period_s=5.0, margin_kw=1.0,
                  overhead={"pue": PUE, "aux_kw": AUX_KW}),  # 10 kW short: a plate figure
)  # fmt: skip


@pytest.fixture(scope="module")
def offset(tmp_path_factory: pytest.TempPathFactory) -> Run:
    async def body(site: SiteProcesses, run: Run) -> None:
        cap0 = await start_at(site, run, 0.75)
        await gather_for(site, 16.0)
        await cut_to(site, run, 0.7 * cap0, cut_bound(OFFSET, site) + 5.0)

    return scenario(body, OFFSET, tmp_path_factory.mktemp("offset"))


def test_unannounced_cut_is_under_the_cap_within_the_stated_bound(offset: Run) -> None:
    """Finding 3: a 30 % cut on the live feed, on a healthy site whose meter reads 10 kW
    more than fleetd's model of it (an auxiliary load above its plate figure: the meter
    is the truth, and the factor learnt before the cut no longer fits after it): under
    the new cap within the feed's poll + one control period + the rigs' shed time from
    their models, and never above it again."""
    w, cap = offset.witness, offset.caps["cut"]
    t_cut, t_end = offset.marks["cut"], offset.marks["end"]
    bound = cut_bound(offset.spec, offset.site)
    assert w.over(cap, t_cut, t_cut + 1.0)[0] > 0, "the cut should have left the site over"
    assert w.over(offset.caps["start"], t_cut - 6.0, t_cut)[0] == 0.0
    secs, kwh, worst = w.over(cap, t_cut + bound, t_end)
    assert secs == 0.0, (f"meter above the cap {secs:.1f} s ({kwh:.3f} kWh, up to "
                         f"{worst / 1e3:.1f} kW) later than {bound:.1f} s after the cut")


# ---------------------------------------------------------------------- raise: 1

BOOT_S = 14.0
RAISE = SiteSpec(
    groups=(Group("S19", 40, start="sleeping"), Group("S21XP", 40)),
    allotment_mw=0.0, pue=PUE, aux_kw=AUX_KW, hall_kw=HALL_KW,
    timings=FAST_TIMINGS | {"boot_s": BOOT_S, "ramp_up_s": 3.0},
    site=site_cfg(margin_kw=1.0), drivers={"read_timeout_s": 1.0},
)  # fmt: skip


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> Run:
    async def body(site: SiteProcesses, run: Run) -> None:
        low = await start_at(site, run, 1.01)  # what the awake half draws, and a little
        await gather_for(site, 6.0)
        plate = nameplate_w(site.fleet) * PUE + (AUX_KW + HALL_KW) * 1e3
        # room to wake about half the S19s; watched through their boot and ramp
        await cut_to(site, run, low + 0.5 * (plate - low), BOOT_S + 3.0 + 10.0)

    return scenario(body, RAISE, tmp_path_factory.mktemp("raise"))


def test_raising_the_cap_never_overshoots_it(raised: Run) -> None:
    """Finding 1: the cap is lifted on a quiet site; the woken rigs draw ~120 W for 14 s
    while they boot, then ramp. They count at their target from the moment they are
    told, the meter correction never lifts the plan above the cap, and the meter stays
    under the raised cap all the way up."""
    w = raised.witness
    t_raise, t_end = raised.marks["cut"], raised.marks["end"]
    woke = [c for c in raised.commands if c.ts >= t_raise and c.command and
            c.command.startswith("wake") and c.ok]  # fmt: skip
    assert len(woke) >= 5, f"only {len(woke)} rigs woken: the raise was not used"
    secs, kwh, worst = w.over(raised.cap_at, t_raise, t_end)
    assert secs == 0.0, (f"meter above the raised cap {secs:.1f} s ({kwh:.3f} kWh, up to "
                         f"{worst / 1e3:.1f} kW)")
    # and the raise was used: the site ends within a few rigs of the cap
    assert w.mean_w(t_end - 2.0, t_end) >= raised.caps["cut"] - 4 * 3645 * PUE
