"""What the demo shows, read only from the programs' public interfaces.

One `Snapshot` per refresh, built from
- the pool's JSON stats API (hashrate, workers, shares, rejects, blocks),
- fleetd's HTTP API (the allotment it enforces, its view of site power, rigs by state),
- rigsim's site meters (the truth: what each site really draws, its rigs' real states),
- fleetd's audit log (the last commands, with the signal that caused each),
- and the allotment in force, worked out independently of fleetd: the re-timed schedule
  and constants of the run's fleetd config, and the grid feed the demo itself serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from surplus.demo.grid import GridFeed
from surplus.demo.layout import Layout

COMMANDS_SHOWN = 8


@dataclass(frozen=True)
class SiteView:
    name: str
    cap_mw: float  # the allotment in force (the truth)
    bound_by: str  # which source sets it
    meter_kw: float | None  # the site meter (truth)
    firm_kw: float
    hashrate_ths: float | None
    rigs: dict[str, int]  # physical state -> count (truth)
    fleetd_allotment_mw: float | None
    fleetd_site_kw: float | None
    fleetd_budget_kw: float | None
    fleetd_states: dict[str, int]
    above_cap_s: float | None
    cut_since: float | None  # an unannounced grid cut in force since (epoch s)

    @property
    def headroom_kw(self) -> float | None:
        return None if self.meter_kw is None else self.cap_mw * 1e3 - self.meter_kw


@dataclass(frozen=True)
class PoolView:
    hashrate_hs: float
    workers: int
    connections: int
    accepted: int
    accepted_difficulty: float
    rejected: dict[str, int]
    blocks_found: int
    blocks_accepted: int  # submitblock took them
    blocks_confirmed: int  # on the active chain at their height
    height: int | None
    last_block: dict[str, Any] | None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True)
class Snapshot:
    t: float
    elapsed_s: float
    day_s: float  # seconds into the (compressed) allotment day
    sites: list[SiteView]
    pool: PoolView | None
    commands: list[dict[str, Any]] = field(default_factory=list)
    commands_total: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # part -> why it could not be read


class AllotmentTruth:
    """The allotment in force at any moment, from the run's config and grid feed."""

    def __init__(self, layout: Layout, grid: dict[str, GridFeed]) -> None:
        from fleetd.config import load
        from fleetd.sources import build_site_allotment

        cfg = load(layout.fleetd_file)
        self.grid = grid
        self.fixed: dict[str, list[Any]] = {}
        self.feeds: dict[str, list[str]] = {}
        for name, site in cfg.sites.items():
            sources = build_site_allotment(site, start_at=layout.start).sources
            self.fixed[name] = [s for s in sources if s.name != "override"
                                and not callable(getattr(s, "run", None))]  # fmt: skip
            self.feeds[name] = [s.name for s in sources if callable(getattr(s, "run", None))]
        self.sites = list(cfg.sites)

    def at(self, site: str, t: float) -> tuple[float, str]:
        """(MW, the source that sets it) at epoch `t`."""
        best = (float("inf"), "")
        for s in self.fixed[site]:
            r = s.current(t)
            if r is not None and r.mw < best[0]:
                best = (r.mw, s.name)
        feed = self.grid.get(site)
        if feed is not None and self.feeds[site]:
            mw = feed.mw_at(t)
            if mw < best[0]:
                best = (mw, self.feeds[site][0])
        return best


class AuditTail:
    """New command records of fleetd's append-only audit log, as they are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.last: deque[dict[str, Any]] = deque(maxlen=COMMANDS_SHOWN)
        self.total = 0
        self.failed = 0
        self._rest = b""

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if rec.get("kind") == "command":
                    self.total += 1
                    self.failed += rec.get("ok") is False
                    self.last.append(rec)


class Observer:
    def __init__(self, layout: Layout, grid: dict[str, GridFeed], start: float) -> None:
        self.layout = layout
        self.truth = AllotmentTruth(layout, grid)
        self.grid = grid
        self.start = start
        self.audit = AuditTail(layout.audit_file)
        p = layout.ports
        self.urls = {
            "pool": f"http://127.0.0.1:{p.pool_stats}/api/v1/pool",
            "fleetd": f"http://127.0.0.1:{p.fleetd_api}/sites",
            "rigsim": f"http://127.0.0.1:{p.rigsim_metrics}/sites",
        }
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Observer:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def _get(self, part: str) -> Any:
        assert self.session is not None
        async with self.session.get(self.urls[part]) as r:
            r.raise_for_status()
            return await r.json()

    async def snapshot(self, now: float) -> Snapshot:
        parts = list(self.urls)
        got = await asyncio.gather(*(self._get(p) for p in parts), return_exceptions=True)
        data: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for part, value in zip(parts, got, strict=True):
            if isinstance(value, BaseException):
                errors[part] = f"{type(value).__name__}: {value}".strip()
            else:
                data[part] = value
        self.audit.poll()
        return self.build(now, data, errors)

    def build(self, now: float, data: dict[str, Any], errors: dict[str, str]) -> Snapshot:
        rig = (data.get("rigsim") or {}).get("sites", {})
        fd = {s["site"]: s for s in (data.get("fleetd") or {}).get("sites", [])}
        sites = []
        for name in self.truth.sites:
            cap, bound = self.truth.at(name, now)
            r, f = rig.get(name, {}), fd.get(name, {})
            feed = self.grid.get(name)
            sites.append(SiteView(
                name=name, cap_mw=cap, bound_by=bound, meter_kw=r.get("meter_kw"),
                firm_kw=sum((r.get("firm_kw") or {}).values()),
                hashrate_ths=r.get("hashrate_ths"), rigs=r.get("rigs") or {},
                fleetd_allotment_mw=f.get("allotment_mw"), fleetd_site_kw=f.get("site_kw"),
                fleetd_budget_kw=f.get("budget_kw"), fleetd_states=f.get("rigs_by_state") or {},
                above_cap_s=f.get("above_cap_s"),
                cut_since=None if feed is None else feed.cut_started(now),
            ))  # fmt: skip
        pool = None
        p = data.get("pool")
        if p is not None:
            shares = p.get("shares", {})
            pool = PoolView(
                hashrate_hs=float(p.get("hashrate_hs") or 0.0), workers=int(p.get("workers") or 0),
                connections=int(p.get("connections") or 0),
                accepted=int(shares.get("accepted") or 0),
                accepted_difficulty=float(shares.get("accepted_difficulty") or 0.0),
                rejected={k: int(v) for k, v in (shares.get("rejected") or {}).items()},
                blocks_found=int(p.get("blocks_found") or 0),
                blocks_accepted=int(p.get("blocks_accepted") or 0),
                blocks_confirmed=int(p.get("blocks_confirmed") or 0),
                height=p.get("height"), last_block=p.get("last_block"),
            )  # fmt: skip
        return Snapshot(
            t=now, elapsed_s=now - self.start,
            day_s=((now - self.layout.start) * self.layout.compress) % 86_400.0,
            sites=sites, pool=pool, commands=list(self.audit.last),
            commands_total=self.audit.total, errors=errors,
        )  # fmt: skip
