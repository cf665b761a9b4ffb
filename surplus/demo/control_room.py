"""Several sites under one coordinator, all as processes (`surplus demo --sites N` and the
tests in tests/coordinator): one `surplus rigsim` emulating every site's rigs and meter,
one `surplus fleetd` per site reading its allotment from the coordinator's signed feed,
and `surplus control`.

    async with ControlProcesses(SPECS, tmp, control={...}) as room:
        await room.post("/portfolio", {"mw": 0.03})
        room.witness.meter_w["a"]             # rigsim's meter, the only truth about power

Rig timings are compressed (FAST_TIMINGS, as tests/fleetd/site_procs.py has them). Keys
are written to files, one per site, shared by the coordinator and that site's fleetd.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from rigsim.addresses import free_loopback_base
from rigsim.config import parse_fleet_config
from rigsim.fleet import Fleet
from surplus.demo.procs import Child, wait_ready

# rig timings (simulated = real seconds): boots and ramps of seconds, a shed of 1.5 s
FAST_TIMINGS: dict[str, float] = {
    "boot_s": 3.0, "ramp_up_s": 2.0, "shed_s": 1.5, "api_down_s": 0.5, "tau_s": 1.5,
}  # fmt: skip
OPS_TOKEN = "control-ops-token-0123456789"
SITE_TOKEN = "control-site-token-0123456789"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Site:
    name: str
    model: str
    count: int
    licence_mw: float
    priority: int = 1
    floor_mw: float = 0.0
    shed_s: float = 5.0  # what the coordinator is told of the site's speed


@dataclass
class MultiWitness:
    """rigsim's meter for every site, polled every `every_s` (rigsim's clock)."""

    url: str
    every_s: float = 0.1
    t: list[float] = field(default_factory=list)
    meter_w: dict[str, list[float]] = field(default_factory=dict)

    async def run(self, http: aiohttp.ClientSession) -> None:
        while True:
            started = time.monotonic()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                async with http.get(self.url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    body = await r.json()
                for name, s in body["sites"].items():
                    self.meter_w.setdefault(name, []).append(float(s["meter_kw"]) * 1e3)
                self.t.append(float(body["time"]))
            await asyncio.sleep(max(0.0, self.every_s - (time.monotonic() - started)))

    def last(self, site: str, n: int = 1) -> list[float]:
        return self.meter_w.get(site, [])[-n:]

    def max_since(self, site: str, t0: float) -> float:
        w = self.meter_w.get(site, [])
        k = next((i for i, t in enumerate(self.t) if t >= t0), len(self.t))
        return max(w[k:], default=float("nan"))

    async def wait(self, until: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        seen = len(self.t)
        while time.monotonic() < deadline:
            if len(self.t) != seen:
                seen = len(self.t)
                if until(self):
                    return
            await asyncio.sleep(self.every_s / 2)
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Mining:
    """The rigs mine at a real pool (rigsim --pool): `elsewhere` moves the first n rigs of
    a site to another pool's URL (a wrong pool). With a `[pool]` table in the
    coordinator's config, each site's `pool_account` is rigsim's worker prefix and its
    `workers` map fleetd's rig names to rigsim's workers."""

    pool_url: str
    elsewhere: dict[str, tuple[int, str]] = field(default_factory=dict)
    hashrate_scale: float = 100.0
    account: str = "surplus"


class ControlProcesses:
    def __init__(
        self,
        sites: tuple[Site, ...],
        tmp: Path,
        control: dict[str, Any],
        tables: dict[str, Any] | None = None,
        mining: Mining | None = None,
    ) -> None:
        self.sites = sites
        self.tmp = tmp
        self.control_extra = control
        self.tables = dict(tables or {})  # more top-level tables ([openadr], [pool])
        self.mining = mining
        self.ports: dict[str, int] = {
            "rigsim": free_port(),
            "control": free_port(),
            "control_metrics": free_port(),
        }
        for s in sites:
            self.ports[f"api_{s.name}"] = free_port()
            self.ports[f"metrics_{s.name}"] = free_port()
        base = int(ipaddress.IPv4Address(free_loopback_base(sum(s.count for s in sites))))
        groups, models = [], {}
        for s in sites:
            moved, url = (0, "") if mining is None else mining.elsewhere.get(s.name, (0, ""))
            for count, pool_url in ((moved, url), (s.count - moved, None)):
                if count <= 0:
                    continue
                group = {
                    "model": s.model,
                    "count": count,
                    "site": s.name,
                    "addresses": str(ipaddress.IPv4Address(base)),
                    "start": "hashing",
                }
                groups.append(group | ({} if pool_url is None else {"pool_url": pool_url}))
                base += count
            models[s.model] = dict(FAST_TIMINGS)
        fleet: dict[str, Any] = {"seed": 5, "tick_s": 0.1, "hashrate_spread": 0.0}
        if mining is not None:
            fleet |= {"hashrate_scale": mining.hashrate_scale, "worker_prefix": mining.account}
        self.fleet_cfg = parse_fleet_config(
            {
                "fleet": fleet,
                "sites": {s.name: {"ambient_c": 20.0, "pue": 1.1, "aux_kw": 0.0} for s in sites},
                "models": models,
                "rigs": groups,
            }
        )
        self.fleet = Fleet(self.fleet_cfg)
        self.meter_base = f"http://127.0.0.1:{self.ports['rigsim']}"
        self.witness = MultiWitness(f"{self.meter_base}/sites")
        self.rigsim: Child | None = None
        self.fleetd: dict[str, Child] = {}
        self.control: Child | None = None
        self.http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.control_toml = tmp / "control.toml"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['control']}"

    def api(self, site: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'api_{site}']}"

    def key_file(self, site: str) -> Path:
        return self.tmp / f"{site}.key"

    async def __aenter__(self) -> ControlProcesses:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    def _fleetd_toml(self, s: Site) -> dict[str, Any]:
        rigs = [
            {"host": r.address, "model": r.model.key, "firmware": "luxos", "name": r.name}
            for r in self.fleet.rigs
            if r.site == s.name
        ]
        meter = {
            "kind": "http_json",
            "url": f"{self.meter_base}/sites/{s.name}/meter",
            "field": "kw",
            "unit": "kW",
            "interval_s": 0.5,
            "timeout_s": 1.0,
            "stale_after_s": 5.0,
        }
        feed = {
            "kind": "http_json",
            "name": "control",
            "interval_s": 0.5,
            "timeout_s": 1.0,
            "url": f"{self.control_url}/feed/{s.name}",
            "stale_after_s": 4.0,
            "floor_mw": s.floor_mw,
            "signing": {"key_file": str(self.key_file(s.name)), "max_age_s": 10.0},
        }
        site = {
            "control_period_s": 1.0,
            "min_awake_s": 5.0,
            "min_asleep_s": 5.0,
            "response_s": FAST_TIMINGS["shed_s"] + 1.0,
            "overhead": {"pue": 1.1, "aux_kw": 0.0},
            "meter": meter,
            "allotment": [feed],
            "rigs": rigs,
        }
        return {
            "api": {"listen": f"127.0.0.1:{self.ports[f'api_{s.name}']}", "token": SITE_TOKEN},
            "metrics": {"listen": f"127.0.0.1:{self.ports[f'metrics_{s.name}']}"},
            "audit": {
                "path": str(self.tmp / f"fleetd-{s.name}-audit.jsonl"),
                "fsync_every": 1000,
                "fsync_interval_s": 1.0,
            },
            "sites": {s.name: site},
        }

    def _control_toml(self) -> dict[str, Any]:
        control = {
            "policy": "merit",
            "portfolio_mw": 0.0,
            "interval_s": 1.0,
            "cut_within_s": 10.0,
            "site_timeout_s": 1.0,
            "state_file": str(self.tmp / "control-state.json"),
            "audit_path": str(self.tmp / "control-audit.jsonl"),
        } | self.control_extra
        doc = {
            "control": control,
            "api": {
                "listen": f"127.0.0.1:{self.ports['control']}",
                "tokens": [{"name": "ops", "token_env": "CONTROL_TEST_OPS_TOKEN"}],
            },
            "metrics": {"listen": f"127.0.0.1:{self.ports['control_metrics']}"},
            "sites": {
                s.name: {
                    "api_url": self.api(s.name),
                    "token_env": "CONTROL_TEST_SITE_TOKEN",
                    "key_file": str(self.key_file(s.name)),
                    "licence_mw": s.licence_mw,
                    "priority": s.priority,
                    "shed_s": s.shed_s,
                }
                | self._pool_keys(s)
                for s in self.sites
            },
        } | self.tables
        return doc

    def fleetd_rig_name(self, rig: Any) -> str:
        """What fleetd calls a rigsim rig (its config's `name` prefix and its host)."""
        return f"{rig.name}-{rig.address}"

    def _pool_keys(self, s: Site) -> dict[str, Any]:
        if self.mining is None or "pool" not in self.tables:
            return {}
        workers = {
            self.fleetd_rig_name(r): f"{self.mining.account}.{r.name}"
            for r in self.fleet.rigs
            if r.site == s.name
        }
        return {"pool_account": self.mining.account, "workers": workers}

    async def _start(self) -> None:
        os.environ["CONTROL_TEST_OPS_TOKEN"] = OPS_TOKEN
        os.environ["CONTROL_TEST_SITE_TOKEN"] = SITE_TOKEN
        self.http = aiohttp.ClientSession()
        for s in self.sites:
            self.key_file(s.name).write_text(f"key-of-{s.name}-" + "0123456789abcdef" * 3 + "\n")
        fleet_file = self.tmp / "fleet.toml"
        fleet_file.write_text(
            tomli_w.dumps(self.fleet_cfg.model_dump(mode="json", exclude_none=True))
        )
        self.rigsim = Child(
            "rigsim",
            [
                "rigsim",
                "--fleet",
                str(fleet_file),
                "--metrics",
                f"127.0.0.1:{self.ports['rigsim']}",
                "--status-every",
                "0",
                *([] if self.mining is None else ["--pool", self.mining.pool_url]),
            ],
            self.tmp / "rigsim.log",
        )
        await self.rigsim.start()
        await wait_ready(self.rigsim, self.witness.url, self.http, START_TIMEOUT_S)
        self._tasks.append(asyncio.create_task(self.witness.run(self.http)))
        self.control_toml.write_text(tomli_w.dumps(self._control_toml()))

    async def start_control(self) -> None:
        assert self.http is not None
        self.control = Child(
            "control", ["control", "--config", str(self.control_toml)], self.tmp / "control.log"
        )
        await self.control.start()
        await wait_ready(self.control, f"{self.control_url}/status", self.http, START_TIMEOUT_S)

    async def kill_control(self) -> None:
        """SIGKILL: the coordinator goes silent at once, with no clean shutdown."""
        assert self.control is not None and self.control.proc is not None
        self.control.proc.kill()
        await self.control.proc.wait()

    async def start_fleetds(self) -> None:
        assert self.http is not None
        for s in self.sites:
            path = self.tmp / f"fleetd-{s.name}.toml"
            path.write_text(tomli_w.dumps(self._fleetd_toml(s)))
            child = Child(
                f"fleetd-{s.name}",
                ["fleetd", "--config", str(path), "--log-level", "INFO"],
                self.tmp / f"fleetd-{s.name}.log",
            )
            self.fleetd[s.name] = child
            await child.start()
        for s in self.sites:
            await wait_ready(
                self.fleetd[s.name], f"{self.api(s.name)}/sites", self.http, START_TIMEOUT_S
            )

    async def _stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for child in (self.control, *self.fleetd.values(), self.rigsim):
            if child is not None:
                await child.stop(10.0)
        if self.http is not None:
            await self.http.close()

    def check_alive(self) -> None:
        for child in (self.rigsim, *self.fleetd.values()):
            if child is not None and not child.alive:
                raise child.failure()

    async def get(self, url: str) -> Any:
        assert self.http is not None
        async with self.http.get(url) as r:
            return await r.json()

    async def get_text(self, url: str, token: str | None = None) -> tuple[int, str]:
        assert self.http is not None
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.http.get(url, headers=headers) as r:
            return r.status, await r.text()

    async def post(
        self, path: str, body: dict[str, Any], method: str = "POST", token: str = OPS_TOKEN
    ) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.request(
            method,
            f"{self.control_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            return r.status, await r.json()

    async def status(self) -> dict[str, Any]:
        return await self.get(f"{self.control_url}/status")

    async def site_allotment(self, site: str) -> dict[str, Any]:
        return await self.get(f"{self.api(site)}/sites/{site}/allotment")

    async def feeds_agree(self) -> bool:
        """Every fleetd steers by the figure the coordinator gives its site, from a fresh
        feed (its first source)."""
        status = await self.status()
        figures = {x["name"]: x["allotment_mw"] for x in status["sites"]}
        for s in self.sites:
            v = await self.site_allotment(s.name)
            if v["sources"][0]["state"] != "ok" or abs(v["allotment_mw"] - figures[s.name]) > 1e-9:
                return False
        return True

    def full_draw_w(self, site: str) -> float:
        return sum(r.model.nameplate_w for r in self.fleet.rigs if r.site == site) * 1.1

    def shed_s(self) -> float:
        return max(float(FAST_TIMINGS["shed_s"]), 0.0)
