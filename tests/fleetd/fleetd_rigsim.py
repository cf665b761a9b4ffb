"""Running fleetd against rigsim: fleets, sites, a truth recorder and the optimum.

Scenarios drive REAL rigsim rigs over TCP through the real pyasic driver. The truth
(what the site meter reads, the hashrate) comes from rigsim itself, never from fleetd,
and the optimum is computed here from rigsim's own profile ladders (an LP relaxation,
solved exactly by taking the concave-hull segments of every rig best TH per W first).

`InProcessDriver` speaks the same LuxOS API to rigsim without a socket (fleet.api_call),
for fleets too large for loopback TCP (benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fleetd.allotment import AllotmentSource, SiteAllotment
from fleetd.audit import AuditLog, read_audit
from fleetd.config import FleetdConfig, parse_config
from fleetd.control import SampleLog, SiteController, ThermalPolicy
from fleetd.control.site import ControlTuning, Site
from fleetd.drivers import ApplyResult, PyasicDriver, RigReading, Target, TargetKind
from fleetd.drivers.capabilities import FirmwareKind, capabilities
from fleetd.drivers.luxos import READ_COMMANDS, parse_profiles, parse_telemetry
from rigsim.addresses import free_loopback_base, rebase
from rigsim.config import parse_fleet_config
from rigsim.fleet import Fleet
from rigsim.physics import RigState as SimState
from rigsim.runner import FleetRunner

FAST = {"boot_s": 1.0, "ramp_up_s": 1.0, "shed_s": 0.2, "api_down_s": 0.3, "tau_s": 1.5}
# a mixed site of ~390 kW nameplate
DEFAULT_MIX = (("S19jPro", 40), ("S19XP", 30), ("S21", 30), ("S21XP", 20))


def fleet_config(
    mix: Sequence[tuple[str, int]] = DEFAULT_MIX,
    *,
    pue: float = 1.1,
    ambient_c: float = 20.0,
    start: str = "hashing",
    extra_groups: Sequence[dict[str, Any]] = (),
    timings: dict[str, float] | None = None,
    base: str | None = None,
) -> Any:
    """A rigsim fleet of one site "s" with compressed timings on a free loopback block
    (or from `base`)."""
    t = FAST | (timings or {})
    groups = [
        {"model": m, "count": c, "site": "s", "addresses": "127.0.0.1", "start": start}
        for m, c in mix
    ]
    groups += [{"site": "s", "addresses": "127.0.0.1", **g} for g in extra_groups]
    start_ip = int(ipaddress.IPv4Address("127.0.0.1"))
    for g in groups:  # placeholders, disjoint; rebase() moves them to a free block
        g["addresses"] = str(ipaddress.IPv4Address(start_ip))
        start_ip += g["count"]
    models = {m: dict(t) for m in {g["model"] for g in groups}}
    cfg = parse_fleet_config({
        "fleet": {"seed": 3, "tick_s": 0.1, "hashrate_spread": 0.0},
        "sites": {"s": {"ambient_c": ambient_c, "pue": pue}},
        "models": models, "rigs": groups,
    })  # fmt: skip
    return rebase(cfg, base or free_loopback_base(cfg.total_rigs))


def fleetd_config(fleet: Fleet, site: dict[str, Any], tmp: Path) -> FleetdConfig:
    """A fleetd config for every rig of the fleet (one site "s"), LuxOS through pyasic."""
    rigs = [{"host": r.address, "model": r.model.key, "firmware": "luxos"} for r in fleet.rigs]
    base = {
        "control_period_s": 1.0, "min_awake_s": 4.0, "min_asleep_s": 3.0, "hysteresis": 0.01,
        "margin_kw": 1.0, "command_batch_size": 64,
        "allotment": [{"kind": "constant", "mw": 1.0}], "overhead": {"pue": 1.1},
    }  # fmt: skip
    return parse_config({
        "drivers": {"read_timeout_s": 1.0, "command_timeout_s": 3.0, "read_retries": 0,
                    "command_retries": 1, "concurrency": 128, "read_deadline_s": 2.0},
        "audit": {"path": str(tmp / "audit.jsonl")},
        "sites": {"s": base | site | {"rigs": rigs}},
    })  # fmt: skip


# What a loaded machine may add to a bound in real seconds derived from the config and the
# rigs' timings (the event loop's lag, pyasic's connections on a shared CPU): a bound says
# "within the period and the rigs' response", never how fast this machine is.
SLACK_S = 1.0

FAST_TUNING = ControlTuning(
    response_s=0.6, watch_s=0.1,
    thermal=ThermalPolicy(hot_c=80.0, cool_c=74.0, relax_after_s=6.0, settle_s=2.0),
)  # fmt: skip


# ---------------------------------------------------------------------- truth


@dataclass
class Truth:
    """What really happened, sampled from rigsim every `every_s` (real seconds)."""

    t: list[float] = field(default_factory=list)
    site_w: list[float] = field(default_factory=list)
    cap_w: list[float] = field(default_factory=list)
    ths: list[float] = field(default_factory=list)
    overheated: list[int] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.t), np.array(self.site_w), np.array(self.cap_w),
                np.array(self.ths))  # fmt: skip

    def above(self, t0: float, t1: float = float("inf")) -> tuple[float, float]:
        """(seconds, joules) above the cap in [t0, t1)."""
        t, w, c, _ = self.arrays()
        if t.size < 2:
            return 0.0, 0.0
        dt = np.diff(t)
        over = np.maximum(w[:-1] - c[:-1], 0.0)
        m = (t[:-1] >= t0) & (t[:-1] < t1) & (over > 0)
        return float(dt[m].sum()), float((over * dt)[m].sum())

    def worst_over(self, t0: float, t1: float = float("inf")) -> float:
        t, w, c, _ = self.arrays()
        m = (t >= t0) & (t < t1)
        return float(np.max(w[m] - c[m])) if m.any() else -np.inf

    def mean_ths(self, t0: float, t1: float) -> float:
        t, _, _, h = self.arrays()
        m = (t >= t0) & (t < t1)
        return float(h[m].mean())


async def record(
    fleet: Fleet,
    truth: Truth,
    cap_w: Callable[[float], float],
    firm_w: Callable[[float], float] = lambda t: 0.0,
    every_s: float = 0.05,
) -> None:
    """Sample the true site meter (rigs x PUE + firm loads) until cancelled."""
    while True:
        now = time.time()
        fleet.advance()
        truth.t.append(now)
        truth.site_w.append(fleet.site_meter_w()["s"] + firm_w(now))
        truth.cap_w.append(cap_w(now))
        truth.ths.append(fleet.site_hashrate_ths()["s"])
        truth.overheated.append(int(np.sum(fleet.physics.state == SimState.OVERHEATED)))
        await asyncio.sleep(every_s)


# ---------------------------------------------------------------------- the optimum


def optimum_ths(
    fleet: Fleet,
    rig_budget_w: float,
    *,
    exclude: Sequence[int] = (),
    max_heat: dict[int, float] | None = None,
) -> float:
    """Most TH/s the reachable rigs can make within `rig_budget_w` of true draw: the LP
    relaxation over each rig's (sleep, profiles) points, from rigsim's own ladders.

    `exclude` rigs are fixed as they are (their draw must already be out of the budget and
    their hashrate is added); `max_heat[i]` limits rig i to profiles drawing at most that
    share of its nameplate (a thermal limit).
    """
    skip = set(exclude)
    sets = []
    fixed_ths = 0.0
    for i, rig in enumerate(fleet.rigs):
        if i in skip:
            fixed_ths += rig.hashrate_ths
            continue
        m = rig.model
        lim = (max_heat or {}).get(i, np.inf) * m.nameplate_w
        sets.append([(m.sleep_w, 0.0)] + [(p.watts, p.ths) for p in m.profiles
                                          if p.watts <= lim])  # fmt: skip
    return lp_optimum(sets, rig_budget_w) + fixed_ths


def lp_optimum(point_sets: Sequence[Sequence[tuple[float, float]]], budget_w: float) -> float:
    """The LP relaxation's optimum: each rig runs at one of its (watts, TH/s) points, the
    first its asleep one, or between two (the relaxation); segments of every rig's upper
    concave hull are taken best TH/s per W first until `budget_w` is spent."""
    slopes, widths = [], []
    budget = budget_w
    for pts in point_sets:
        pts = sorted(pts)
        budget -= pts[0][0]
        hull = [pts[0]]
        for p in pts[1:]:
            while len(hull) >= 2:
                (w0, h0), (w1, h1) = hull[-2], hull[-1]
                if (h1 - h0) * (p[0] - w0) <= (p[1] - h0) * (w1 - w0):
                    hull.pop()
                else:
                    break
            hull.append(p)
        for (w0, h0), (w1, h1) in itertools.pairwise(hull):
            if w1 > w0:
                slopes.append((h1 - h0) / (w1 - w0))
                widths.append(w1 - w0)
    got = 0.0
    for k in np.argsort(-np.array(slopes)):
        if budget <= 0:
            break
        take = min(widths[k], budget)
        got += take * slopes[k]
        budget -= take
    return got


# ---------------------------------------------------------------------- hold checks


def hold_violations(audit_path: Path, min_awake_s: float, min_asleep_s: float) -> list[str]:
    """Toggles sooner than the hold allows, unless the record says the cap broke the hold."""
    last: dict[str, tuple[str, float]] = {}
    bad = []
    for rec in read_audit(audit_path, kinds=("command",)):
        if not rec.ok or rec.command is None:
            continue
        kind = "sleep" if rec.command == "sleep" else "wake" if rec.command.startswith("wake") \
            else None  # fmt: skip
        if kind is None or rec.rig is None:
            continue
        at = float(rec.extra.get("at", rec.ts))  # when the rig answered
        prev = last.get(rec.rig)
        if prev is not None and prev[0] != kind:
            held = min_awake_s if prev[0] == "wake" else min_asleep_s
            broken = bool(rec.extra.get("hold_broken"))
            if at - prev[1] < held - 0.05 and not broken and rec.extra.get("why") == "plan":
                bad.append(f"{rec.rig}: {prev[0]} then {kind} after {at - prev[1]:.2f} s")
        if prev is None or prev[0] != kind:
            last[rec.rig] = (kind, at)
    return bad


# ---------------------------------------------------------------------- running fleetd


@dataclass
class Running:
    fleet: Fleet
    site: Site
    controller: SiteController
    config: FleetdConfig
    audit_path: Path
    truth: Truth


@contextlib.asynccontextmanager
async def run_site(
    fleet_cfg: Any,
    site_cfg: dict[str, Any],
    sources: Callable[[Fleet], Sequence[AllotmentSource]],
    tmp: Path,
    *,
    cap_w: Callable[[float], float],
    firm_w: Callable[[float], float] = lambda t: 0.0,
    tuning: ControlTuning = FAST_TUNING,
    before_start: Callable[[Fleet], None] | None = None,
) -> AsyncIterator[Running]:
    """rigsim rigs on TCP + one fleetd site controlling them through pyasic."""
    fleet = Fleet(fleet_cfg)
    if before_start is not None:
        before_start(fleet)
    async with FleetRunner(fleet):
        cfg = fleetd_config(fleet, site_cfg, tmp)
        sc = cfg.sites["s"]
        specs = cfg.rigs("s")
        timeouts = cfg.drivers.timeouts()
        drivers = [PyasicDriver(s.host, s.firmware, timeouts=timeouts) for s in specs]
        from fleetd.allotment import OverrideSource

        allot = SiteAllotment([*sources(fleet), OverrideSource()])
        from fleetd.control.meter import Meter

        meter = None
        if sc.meter is not None:
            meter = Meter.from_config("s:site", sc.meter)
        firm = {f.name: Meter.from_config(f.name, f.meter) for f in sc.firm_loads if f.meter}
        site = Site("s", sc, specs, allot, drivers, meter=meter, firm_meters=firm, tuning=tuning)
        audit = AuditLog(cfg.audit.path, fsync_every=10_000, fsync_interval_s=5.0)
        samples = SampleLog(tmp / "audit.samples.jsonl")
        ctl = SiteController(site, audit=audit, samples=samples,
                             concurrency=cfg.drivers.concurrency,
                             read_deadline_s=cfg.drivers.read_deadline_s)  # fmt: skip
        truth = Truth()
        tasks = [asyncio.create_task(ctl.run()), asyncio.create_task(
            record(fleet, truth, cap_w, firm_w))]
        tasks += [asyncio.create_task(f.run()) for f in site.feeds()]
        try:
            await asyncio.wait_for(ctl.first_cycle_done.wait(), 10)
            yield Running(fleet, site, ctl, cfg, cfg.audit.path, truth)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            audit.close()
            samples.close()


# ---------------------------------------------------------------------- no-socket driver


class FleetBatcher:
    """Commands of one event-loop turn, carried out together through rigsim's vectorised
    commands (what a rig farm's batch API would do): per-rig physics updates cost ~1 ms
    each, which would measure the emulator rather than fleetd's fan-out."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._pending: list[tuple[int, Target, asyncio.Future[bool]]] = []
        self.batches = 0

    def submit(self, index: int, target: Target) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((index, target, fut))
        return fut

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self.batches += 1
        f = self.fleet
        try:
            sleep = [i for i, t, _ in batch if t.kind == TargetKind.SLEEP]
            if sleep:
                f.sleep(sleep)
            groups: dict[tuple[str, str], list[int]] = {}
            for i, t, _ in batch:
                if t.profile is not None:
                    groups.setdefault((f.rigs[i].model.key, t.profile), []).append(i)
            for (_, name), idx in groups.items():
                f.set_profile(idx, name)
            wake = [i for i, t, _ in batch if t.kind == TargetKind.WAKE]
            if wake:
                f.wake(wake)
        except Exception as exc:
            for _, _, fut in batch:
                fut.set_exception(exc)
            return
        for _, _, fut in batch:
            fut.set_result(True)


class InProcessDriver:
    """The LuxOS API of rigsim rig `index`, called in-process (no TCP), for big fleets;
    commands go through a FleetBatcher when one is given. Its readings and answers are
    stamped by `clock` (epoch seconds; a test's fake clock, with the fleet on it)."""

    def __init__(self, fleet: Fleet, index: int, batcher: FleetBatcher | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.fleet = fleet
        self.index = index
        self.batcher = batcher
        self.clock = clock
        self.host = fleet.rigs[index].address
        self.capabilities = capabilities(FirmwareKind.LUXOS)
        self._sid = ""
        self._profiles: Any = None

    async def read(self) -> RigReading:
        cmds = READ_COMMANDS + (("profiles",) if self._profiles is None else ())
        reply = self.fleet.api_call(self.index, {"command": "+".join(cmds)})
        now = self.clock()
        if self._profiles is None:
            self._profiles = parse_profiles(reply)
        tel = parse_telemetry(reply)
        return RigReading(
            host=self.host, ok=True, state=tel.state, read_at=now,
            hashrate_ths=tel.hashrate_ths, watts=tel.watts, profile=tel.profile,
            temps_c=tel.temps_c, status=tel.status, model=tel.model,
        )  # fmt: skip

    def _call(self, command: str, *params: str) -> bool:
        if not self._sid:
            reply = self.fleet.api_call(self.index, {"command": "logon"})
            self._sid = reply.get("SESSION", [{}])[0].get("SessionID", "")
        reply = self.fleet.api_call(
            self.index, {"command": command, "parameter": ",".join([self._sid, *params])}
        )
        return reply["STATUS"][0]["STATUS"] in ("S", "I")

    async def apply(self, target: Target) -> ApplyResult:
        ok = True
        if self.batcher is not None:
            ok = await self.batcher.submit(self.index, target)
        elif target.kind == TargetKind.SLEEP:
            ok = self._call("curtail", "sleep")
        else:
            if target.profile is not None:
                ok = self._call("profileset", target.profile)
            if ok and target.kind == TargetKind.WAKE:
                ok = self._call("curtail", "wakeup")
        return ApplyResult(self.host, target, ok, self.clock(), error="" if ok else "refused")
