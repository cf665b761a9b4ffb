"""A whole site as separate processes: `surplus rigsim` and `surplus fleetd`, started as an
operator starts them, with the grid operator's live feed served here and the site meter
that rigsim serves as the witness.

    spec = SiteSpec(groups=(Group("S19", 60), Group("S21XP", 40)), allotment_mw=0.4)
    async with SiteProcesses(spec, tmp_path) as site:
        await site.settle_until(lambda w: ..., timeout_s=...)
        t_pub = site.feed.publish(0.28)          # an unannounced cut
        ...
        site.witness.first_under(cap_w, t_pub)   # the meter's own verdict

Nothing here reads fleetd's opinion of the site's power: the witness polls rigsim's
`/sites` (the meter, the hashrate and the rigs by physical state, stamped with rigsim's
own clock) every `every_s`. fleetd's audit log is read for the commands it sent.

Rig timings are compressed (`FAST_TIMINGS`) so that boots, ramps and sheds take seconds;
`bounds` in the tests are derived from these and from the config, never measured.
Used by tests/fleetd/test_site_processes.py and benchmarks/fleetd.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import tomli_w
from aiohttp import web

from fleetd.audit import AuditRecord, read_audit
from fleetd.config import SiteConfig
from rigsim.addresses import free_loopback_base
from rigsim.config import FleetConfig, parse_fleet_config
from rigsim.fleet import Fleet
from surplus.demo.procs import Child, wait_ready
from tests.components.process import free_port

SITE = "s"
HALL = "hall"
TOKEN = "site-procs-token-0123456789"
# rig timings (simulated = real seconds): boots and ramps of seconds, a shed of 1.5 s
FAST_TIMINGS: dict[str, float] = {
    "boot_s": 3.0, "ramp_up_s": 2.0, "shed_s": 1.5, "api_down_s": 0.5, "tau_s": 1.5,
}  # fmt: skip
START_TIMEOUT_S = 60.0
# rigsim's firmware family -> fleetd's
FLEETD_FAMILY = {"luxos": "luxos", "braiins": "braiins", "antminer": "stock",
                 "whatsminer": "whatsminer"}  # fmt: skip


@dataclass(frozen=True)
class Group:
    """One rigsim rig group: `count` rigs of `model`, optionally with faults (rigsim's
    FaultsConfig keys: unreachable = "refuse" | "blackhole", api_delay_s, ...)."""

    model: str
    count: int
    start: str = "hashing"
    profile: str = "default"
    faults: Mapping[str, Any] | None = None
    firmware: str = "luxos"  # rigsim's family: luxos, braiins, antminer, whatsminer
    whatsminer_api: str = "v2"


@dataclass(frozen=True)
class SiteSpec:
    """The site: its rigs, its loads, its allotment feed and fleetd's settings for it."""

    groups: tuple[Group, ...]
    allotment_mw: float
    pue: float = 1.1
    aux_kw: float = 0.0
    hall_kw: float = 0.0  # an AI hall on the meter, metered for fleetd (0: none)
    hall_swing_kw: float = 0.0
    hall_period_s: float = 60.0
    timings: Mapping[str, float] = field(default_factory=lambda: dict(FAST_TIMINGS))
    model_timings: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    feed_interval_s: float = 1.0
    feed_stale_after_s: float = 30.0
    floor_mw: float = 0.0
    meter_interval_s: float = 0.5
    site: Mapping[str, Any] = field(default_factory=dict)  # [sites.s] keys for fleetd
    drivers: Mapping[str, Any] = field(default_factory=dict)  # [drivers] (default: fleetd's)
    tick_s: float = 0.1  # rigsim's physics tick (the meter's resolution)

    @property
    def rigs(self) -> int:
        return sum(g.count for g in self.groups)

    def fleet_config(self, base: str) -> FleetConfig:
        """rigsim's fleet: one site, every group from `base` on, back to back."""
        loads = []
        if self.hall_kw > 0:
            loads.append({"name": HALL, "kw": self.hall_kw, "swing_kw": self.hall_swing_kw,
                          "period_s": self.hall_period_s})  # fmt: skip
        groups = []
        first = int(ipaddress.IPv4Address(base))
        for g in self.groups:
            row: dict[str, Any] = {"model": g.model, "count": g.count, "site": SITE,
                                   "addresses": str(ipaddress.IPv4Address(first)),
                                   "start": g.start, "profile": g.profile,
                                   "firmware": g.firmware}  # fmt: skip
            if g.whatsminer_api != "v2":
                row["whatsminer_api"] = g.whatsminer_api
            first += g.count
            if g.faults:
                row["faults"] = dict(g.faults)
            groups.append(row)
        models = {g.model: dict(self.timings) | dict(self.model_timings.get(g.model, {}))
                  for g in self.groups}  # fmt: skip
        cfg = parse_fleet_config({
            "fleet": {"seed": 3, "tick_s": self.tick_s, "hashrate_spread": 0.0},
            "sites": {SITE: {"ambient_c": 20.0, "pue": self.pue, "aux_kw": self.aux_kw,
                             "firm_loads": loads}},
            "models": models, "rigs": groups,
        })  # fmt: skip
        return cfg


def _fleet_toml(cfg: FleetConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json", exclude_none=True)


def fleetd_toml(spec: SiteSpec, fleet: Fleet, *, feed_url: str, meter_base: str,
                api_port: int, metrics_port: int, audit: Path) -> dict[str, Any]:  # fmt: skip
    """fleetd's config for the site: the feed, the meter and the hall's sub-meter served
    by rigsim, every rig by address and firmware family (through pyasic)."""
    rigs = [{"host": r.address, "model": r.model.key, "firmware": FLEETD_FAMILY[r.firmware]}
            for r in fleet.rigs]  # fmt: skip
    meter = {"kind": "http_json", "url": f"{meter_base}/sites/{SITE}/meter", "field": "kw",
             "unit": "kW", "interval_s": spec.meter_interval_s, "timeout_s": 1.0,
             "stale_after_s": max(5.0, 4 * spec.meter_interval_s)}  # fmt: skip
    site: dict[str, Any] = {
        "control_period_s": 1.0, "min_awake_s": 20.0, "min_asleep_s": 10.0,
        "overhead": {"pue": spec.pue, "aux_kw": spec.aux_kw}, "meter": meter,
        "allotment": [{"kind": "http_json", "name": "grid", "url": feed_url,
                       "interval_s": spec.feed_interval_s, "timeout_s": 1.0,
                       "stale_after_s": spec.feed_stale_after_s, "floor_mw": spec.floor_mw}],
        "rigs": rigs,
    }  # fmt: skip
    if spec.hall_kw > 0:
        hall_meter = dict(meter, url=f"{meter_base}/sites/{SITE}/firm/{HALL}")
        site["firm_loads"] = [{"name": HALL, "max_kw": spec.hall_kw + spec.hall_swing_kw,
                               "meter": hall_meter}]  # fmt: skip
    site |= dict(spec.site)
    # keys this fleetd does not know are left out: the same scenario then runs against
    # an older fleetd, which is how each test is shown to fail on the code it fixes
    known = set(SiteConfig.model_fields)
    site = {k: v for k, v in site.items() if k in known}
    return {
        "api": {"listen": f"127.0.0.1:{api_port}", "token": TOKEN},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "drivers": dict(spec.drivers),
        "audit": {"path": str(audit), "fsync_every": 1000, "fsync_interval_s": 1.0},
        "sites": {SITE: site},
    }  # fmt: skip


# ---------------------------------------------------------------------- the grid feed


class GridFeed:
    """The grid operator's live feed for the site: {"mw", "as_of", "id"} on every poll,
    stamped when answered (a heartbeat). `publish(mw)` changes the figure at once and
    returns the moment of publication."""

    def __init__(self, mw: float) -> None:
        self.mw = mw
        self.change = 0
        self.published_at = time.time()
        self.polls = 0
        self.ahead: list[tuple[float, float]] = []  # announced changes (at, mw)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def publish(self, mw: float) -> float:
        self.mw = mw
        self.change += 1
        self.published_at = time.time()
        return self.published_at

    def announce(self, at: float, mw: float) -> None:
        """A scheduled change: announced in the feed's `next` from now, in force at `at`."""
        self.ahead = sorted([*self.ahead, (at, mw)])

    async def _handler(self, request: web.Request) -> web.Response:
        self.polls += 1
        now = time.time()
        while self.ahead and self.ahead[0][0] <= now:
            at, mw = self.ahead.pop(0)
            self.mw, self.change, self.published_at = mw, self.change + 1, at
        body: dict[str, Any] = {"mw": self.mw, "as_of": now, "id": f"grid-{self.change}"}
        if self.ahead:
            body["next"] = [{"at": at, "mw": mw} for at, mw in self.ahead]
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/allotment", self._handler)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/allotment"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


# ---------------------------------------------------------------------- the witness


@dataclass
class Witness:
    """rigsim's own figures for the site, polled every `every_s` (times: rigsim's clock)."""

    url: str
    every_s: float = 0.1
    t: list[float] = field(default_factory=list)
    meter_w: list[float] = field(default_factory=list)
    ths: list[float] = field(default_factory=list)
    states: list[dict[str, int]] = field(default_factory=list)
    errors: int = 0

    async def run(self, http: aiohttp.ClientSession) -> None:
        while True:
            started = time.monotonic()
            try:
                async with http.get(self.url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    body = await r.json()
                s = body["sites"][SITE]
                self.t.append(float(body["time"]))
                self.meter_w.append(float(s["meter_kw"]) * 1e3)
                self.ths.append(float(s["hashrate_ths"]))
                self.states.append(dict(s["rigs"]))
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                self.errors += 1
            await asyncio.sleep(max(0.0, self.every_s - (time.monotonic() - started)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.t), np.array(self.meter_w)

    def window(self, t0: float, t1: float) -> np.ndarray:
        t, _ = self.arrays()
        return (t >= t0) & (t < t1)

    def over(self, cap_w: float | Callable[[np.ndarray], np.ndarray], t0: float,
             t1: float = float("inf")) -> tuple[float, float, float]:  # fmt: skip
        """(seconds, kWh, worst W) above `cap_w` in [t0, t1), from the samples."""
        t, w = self.arrays()
        if t.size < 2:
            return 0.0, 0.0, -np.inf
        cap = cap_w(t) if callable(cap_w) else np.full(t.size, float(cap_w))
        dt = np.diff(t)
        excess = np.maximum(w[:-1] - cap[:-1], 0.0)
        m = (t[:-1] >= t0) & (t[:-1] < t1) & (excess > 0)
        m_all = (t >= t0) & (t < t1)
        worst = float(np.max(w[m_all] - cap[m_all])) if m_all.any() else -np.inf
        return float(dt[m].sum()), float((excess * dt)[m].sum() / 3.6e6), worst

    def settled_under(self, cap_w: float, t0: float) -> float | None:
        """The first sample time from which the meter stays at or under `cap_w` (after
        `t0`), or None if the last sample is still above it."""
        t, w = self.arrays()
        m = t >= t0
        t, w = t[m], w[m]
        if t.size == 0 or w[-1] > cap_w:
            return None
        above = np.flatnonzero(w > cap_w)
        return float(t[0] if above.size == 0 else t[above[-1] + 1])

    def under_for(self, cap_w: float, seconds: float) -> bool:
        """The meter has stayed at or under `cap_w` for the last `seconds` (sampled)."""
        t, w = self.arrays()
        if t.size == 0 or t[-1] - t[0] < seconds:
            return False
        return bool(np.all(w[t >= t[-1] - seconds] <= cap_w))

    def mean_ths(self, t0: float, t1: float) -> float:
        m = self.window(t0, t1)
        return float(np.mean(np.array(self.ths)[m]))

    def mean_w(self, t0: float, t1: float) -> float:
        _, w = self.arrays()
        return float(np.mean(w[self.window(t0, t1)]))

    async def wait(self, until: Callable[[Witness], bool], timeout_s: float) -> bool:
        """Poll `until(self)` on every new sample; False when `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        seen = len(self.t)
        while time.monotonic() < deadline:
            if len(self.t) != seen:
                seen = len(self.t)
                if until(self):
                    return True
            await asyncio.sleep(self.every_s / 2)
        return False


# ---------------------------------------------------------------------- the processes


class SiteProcesses:
    """rigsim and fleetd as processes for one SiteSpec (an async context manager)."""

    def __init__(self, spec: SiteSpec, tmp: Path, *, start_fleetd: bool = True) -> None:
        self.spec = spec
        self.tmp = tmp
        self.start_fleetd = start_fleetd
        self.feed = GridFeed(spec.allotment_mw)
        self.ports = {"rigsim": free_port(), "api": free_port(), "metrics": free_port()}
        base = free_loopback_base(spec.rigs)
        self.fleet_cfg = spec.fleet_config(base)
        self.fleet = Fleet(self.fleet_cfg)  # the layout and the ladders (not run here)
        self.audit_path = tmp / "audit.jsonl"
        self.meter_base = f"http://127.0.0.1:{self.ports['rigsim']}"
        self.witness = Witness(f"{self.meter_base}/sites")
        self.rigsim: Child | None = None
        self.fleetd: Child | None = None
        self.fleetd_started_at: float | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    async def __aenter__(self) -> SiteProcesses:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _start(self) -> None:
        self._http = aiohttp.ClientSession()
        await self.feed.start()
        fleet_file = self.tmp / "fleet.toml"
        fleet_file.write_text(tomli_w.dumps(_fleet_toml(self.fleet_cfg)))
        self.rigsim = Child("rigsim", ["rigsim", "--fleet", str(fleet_file), "--metrics",
                                       f"127.0.0.1:{self.ports['rigsim']}", "--status-every",
                                       "0"], self.tmp / "rigsim.log")  # fmt: skip
        await self.rigsim.start()
        await wait_ready(self.rigsim, self.witness.url, self._http, START_TIMEOUT_S)
        self._tasks.append(asyncio.create_task(self.witness.run(self._http)))
        if self.start_fleetd:
            await self.start_fleetd_process()

    async def start_fleetd_process(self) -> float:
        """Start fleetd; returns the moment it was started (once its API answers)."""
        assert self._http is not None
        cfg = fleetd_toml(self.spec, self.fleet, feed_url=self.feed.url,
                          meter_base=self.meter_base, api_port=self.ports["api"],
                          metrics_port=self.ports["metrics"], audit=self.audit_path)  # fmt: skip
        path = self.tmp / "fleetd.toml"
        path.write_text(tomli_w.dumps(cfg))
        self.fleetd = Child("fleetd", ["fleetd", "--config", str(path), "--log-level", "INFO"],
                            self.tmp / "fleetd.log")  # fmt: skip
        self.fleetd_started_at = time.time()
        await self.fleetd.start()
        await wait_ready(self.fleetd, f"{self.api}/sites", self._http, START_TIMEOUT_S)
        return self.fleetd_started_at

    async def _stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for child in (self.fleetd, self.rigsim):
            if child is not None:
                await child.stop(10.0)
        await self.feed.stop()
        if self._http is not None:
            await self._http.close()

    def check_alive(self) -> None:
        for child in (self.rigsim, self.fleetd):
            if child is not None and not child.alive:
                raise child.failure()

    async def summary(self) -> dict[str, Any]:
        """fleetd's own view of the site (GET /sites/s): for messages, never as truth."""
        assert self._http is not None
        async with self._http.get(f"{self.api}/sites/{SITE}") as r:
            return await r.json()

    async def plan(self) -> dict[str, Any]:
        """fleetd's last plan (GET /sites/s/plan)."""
        assert self._http is not None
        async with self._http.get(f"{self.api}/sites/{SITE}/plan") as r:
            return await r.json()

    def commands(self, since: float = 0.0) -> list[AuditRecord]:
        """fleetd's audit records of commands, from `since` on (the audit log on disk)."""
        if not self.audit_path.exists():
            return []
        return [r for r in read_audit(self.audit_path, kinds=("command",)) if r.ts >= since]

    def rig_index(self) -> dict[str, int]:
        return {r.address: i for i, r in enumerate(self.fleet.rigs)}

    def group_indices(self, k: int) -> list[int]:
        start = sum(g.count for g in self.spec.groups[:k])
        return list(range(start, start + self.spec.groups[k].count))

    def shed_s(self) -> float:
        """The slowest shed (ramp down) of the fleet's models: the rigs' own response."""
        return max(float(self.fleet.config.model_for(g.model).shed_s) for g in self.spec.groups)

    def boot_s(self) -> float:
        return max(float(self.fleet.config.model_for(g.model).boot_s) for g in self.spec.groups)


def nameplate_w(fleet: Fleet, rigs: Sequence[int] | None = None) -> float:
    idx = range(len(fleet.rigs)) if rigs is None else rigs
    return float(sum(fleet.rigs[i].model.nameplate_w for i in idx))


async def gather_for(site: SiteProcesses, seconds: float) -> None:
    """Let the site run `seconds`, failing early if a process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        site.check_alive()
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
