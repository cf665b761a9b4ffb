"""The coordinator's asyncio shell: read every fleetd, split, serve the signed feeds and
the operator's actions over HTTP.

    GET    /feed/{site}              the site's signed allotment (its fleetd polls this)
    GET    /                         the operator's console (coordinator.console)
    GET    /status                   portfolio, policy, every site: allotment, draw, J/TH,
                                     rigs by family and state
    GET    /history[?since=T]        every site's allotment and metered draw, last hour
    GET    /commands[?limit=N]       the last commands, actions and grid events, newest first
    GET    /report?from=T&to=T[&format=csv]  the regulator's report across sites (token)
    POST   /portfolio                {"mw", "reason"}   a new portfolio allotment
    POST   /emergency-stop           {"reason"}  every site to 0 MW and every fleetd's own
                                                 emergency stop (every rig asleep)
    POST   /resume                   {"reason"}  lift it (at the coordinator and each fleetd)
    POST   /sites/{site}/override    {"mw", "ttl_s", "reason"}  pin one site
    DELETE /sites/{site}/override    lift it

Reads are open (the feeds are signed, the status holds no secret), except the report
(it asks every fleetd for a month of records: not for anyone to trigger); actions need
`Authorization: Bearer <token>` with one of [[api.tokens]], and the audit log records
them under that token's name. Every `interval_s` the coordinator reads each fleetd's
GET /sites/{site} (concurrently, each with a timeout) and splits again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from coordinator.audit import AuditLog
from coordinator.config import ControlConfig
from coordinator.console import console
from coordinator.core import Coordinator
from coordinator.metrics import CoordinatorMetrics
from coordinator.rigs_view import count_rigs
from coordinator.state import State
from coordinator.ven import Ven
from plumbing.escape import printable
from plumbing.httpapi import (
    bearer_guard,
    error_response,
    json_error,
    json_errors,
    json_object,
    json_response,
)
from plumbing.lifecycle import Service, cancel, closed

log = logging.getLogger("coordinator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BY = web.RequestKey("control_by", str)
MAX_BODY = 64 * 1024
MAX_RIGS_BODY = 8 * 1024 * 1024  # a site's GET /sites/{site}/rigs (10,000 rigs fit)
RIGS_EVERY_S = 10.0  # how often each site's rigs are counted (for the console)
PAGE = 10_000  # workers per request to the pool (its MAX_LIMIT)
SHED_RETELL_S = 60.0  # a non-empty shed-first list is told again this often
COMMAND_KINDS = ("command", "action", "action-result", "openadr", "shed-first")


_json, _error = json_response, error_response


class ControlDaemon(Service):
    def __init__(self, config: ControlConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        keys = {n: s.key(f"sites.{n}") for n, s in config.sites.items()}
        self.site_tokens = {n: s.token(f"sites.{n}") for n, s in config.sites.items()}
        self.tokens = config.api.bearer_tokens()
        c = config.control
        state = State.load(c.state_file, c.portfolio_mw)
        self.core = Coordinator(
            config, keys, state, AuditLog(c.audit_path), save=lambda s: s.save(c.state_file)
        )
        self.metrics = CoordinatorMetrics(self.core, clock)
        self.app = self._build()
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None
        self.http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._rigs_read_at = -math.inf
        # the last shed-first list each fleetd took, and when (monotonic)
        self._shed_told: dict[str, tuple[list[str], float]] = {}
        self.ven: Ven | None = None
        if config.openadr is not None:
            self.ven = Ven(config.openadr, self.core, self._wake.set, clock)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.control.site_timeout_s)
        )
        await self.read_sites()
        self.core.resplit(self.clock(), "start")
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        api = self.config.api
        await web.TCPSite(self.runner, api.host, api.port).start()
        host, port = self.runner.addresses[0][:2]
        self.address = (str(host), int(port))
        await self.metrics.start(self.config.metrics)
        self._task = asyncio.create_task(self._loop())
        if self.ven is not None:
            await self.ven.start()

    async def stop(self) -> None:
        if self.ven is not None:
            await self.ven.stop()
        await cancel(self._task)
        self._task = None
        for name in self.core.sites:
            self.core.flush_credited(name, self.clock())
        await self.metrics.stop()
        self.runner = await closed(self.runner, web.AppRunner.cleanup)
        self.http = await closed(self.http, aiohttp.ClientSession.close)

    async def _loop(self) -> None:
        """Every interval_s, and at each moment a grid event starts or ends, read the
        sites and split again."""
        every = self.config.control.interval_s
        while True:
            started = time.monotonic()
            try:
                await self.read_sites()
                self.core.resplit(self.clock(), "periodic")
                self.core.sample(self.clock())
                rigs_every = RIGS_EVERY_S if self.config.pool is None else self.config.pool.every_s
                if time.monotonic() - self._rigs_read_at >= rigs_every:
                    self._rigs_read_at = time.monotonic()
                    await asyncio.gather(*(self._read_rigs(n) for n in self.core.sites))
            except Exception:  # one bad round must not end the coordinator
                log.exception("the coordinator's round failed")
            wait = max(0.0, every - (time.monotonic() - started))
            now = self.clock()
            boundary = self.core.next_boundary(now)
            if boundary is not None:
                wait = min(wait, max(0.0, boundary - now))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    # ------------------------------------------------------------------ the sites

    def _site_url(self, name: str, path: str) -> str:
        s = self.config.sites[name]
        return f"{s.api_url}/sites/{self.core.sites[name].remote}{path}"

    async def _read_site(self, name: str) -> None:
        assert self.http is not None
        now = self.clock()
        try:
            async with self.http.get(self._site_url(name, "")) as r:
                if r.status != 200:
                    raise ValueError(f"HTTP {r.status}")
                body = await r.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise ValueError(f"a reply larger than {MAX_BODY} bytes")
            summary = json.loads(body)
            if not isinstance(summary, dict):
                raise ValueError("expected a JSON object")
            self.core.set_report(name, summary, now)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = printable(f"{type(exc).__name__}: {exc}", 160)
            if self.core.sites[name].report_error != error:
                log.warning("site %r: cannot read its fleetd: %s", name, error)
            self.core.set_report(name, None, now, error)

    async def _get_json(
        self, url: str, max_bytes: int, params: dict[str, str] | None = None
    ) -> Any:
        """A GET's JSON answer, at most `max_bytes`; ValueError otherwise."""
        assert self.http is not None
        async with self.http.get(url, params=params) as r:
            body = await r.content.read(max_bytes + 1) if r.status == 200 else b""
        if not 0 < len(body) <= max_bytes:
            raise ValueError(f"no answer of at most {max_bytes} bytes (HTTP {r.status})")
        return json.loads(body)

    async def _read_rigs(self, name: str) -> None:
        """The site's rigs counted by family and state (coordinator.rigs_view), and, with
        a [pool], each against its worker at the pool (coordinator.verify)."""
        v = self.core.sites[name]
        try:
            answer = await self._get_json(self._site_url(name, "/rigs"), MAX_RIGS_BODY)
            v.rigs, v.rigs_at = count_rigs(answer), self.clock()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("site %r: its rigs unreadable: %s", name, printable(str(exc), 120))
            return
        site = self.config.sites[name]
        account = site.pool_account
        if v.verify is None or account is None:
            return
        workers = await self._read_workers(account)
        rigs = answer.get("rigs") if isinstance(answer, dict) else None
        if workers is not None and isinstance(rigs, list):
            v.verify.observe(
                self.clock(), rigs, workers, lambda rig: site.workers.get(rig, f"{account}.{rig}")
            )
            self.core.note_credited(name, self.clock())
            if self.config.pool is not None and self.config.pool.shed_flagged:
                await self._tell_shed_first(name, v.verify.flagged_names())
            # the site's own rigs' workers: a better figure for merit order than its
            # account's (several sites may share one account)
            credited = v.verify.figures(None)["credited_ths"]
            if credited > 0:
                v.pool_from_workers = True
                self.core.set_pool(name, credited * self.core.hashes_per_th, self.clock())

    async def _tell_shed_first(self, name: str, rigs: list[str]) -> None:
        """fleetd sheds these rigs before any other (fleetd.control.shed_first); told
        when the list changes, when the last telling failed, and again every
        SHED_RETELL_S while it is not empty (a restarted fleetd starts with none)."""
        told, at = self._shed_told.get(name, ([], -math.inf))
        if told == rigs and (not rigs or time.monotonic() - at < SHED_RETELL_S):
            return
        assert self.http is not None
        token = self.site_tokens.get(name)
        if token is None:
            return
        try:
            async with self.http.put(
                self._site_url(name, "/shed-first"),
                json={"rigs": rigs, "reason": "credited far less than claimed at the pool"},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self._shed_told[name] = (rigs, time.monotonic())
            if rigs != told:
                self.core.audit.write("shed-first", site=name, rigs=rigs[:1000])
        else:
            log.warning("site %r: its fleetd did not take the shed-first list", name)

    async def _read_workers(self, account: str) -> dict[str, dict[str, Any]] | None:
        """The account's workers at the pool (pool.stats_api GET /api/v1/workers), by
        name, a page of 10,000 at a time; None when the pool cannot be read."""
        assert self.config.pool is not None
        url = f"{self.config.pool.stats_url}/api/v1/workers"
        out: dict[str, dict[str, Any]] = {}
        offset: int | None = 0
        try:
            while offset is not None and len(out) < 1_000_000:
                query = {"account": account, "limit": str(PAGE), "offset": str(offset)}
                page = await self._get_json(url, MAX_RIGS_BODY, query)
                rows = page.get("workers") if isinstance(page, dict) else None
                for row in rows if isinstance(rows, list) else []:
                    if isinstance(row, dict) and isinstance(row.get("worker"), str):
                        out[row["worker"]] = row
                nxt = page.get("next_offset") if isinstance(page, dict) else None
                offset = nxt if isinstance(nxt, int) and nxt > offset else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("pool workers of %r unreadable: %s", account, printable(str(exc), 120))
            return None
        return out

    async def _read_pool(self, name: str, account: str) -> None:
        """The hashrate the licensed pool credits the site's account (pool.stats_api)."""
        assert self.http is not None and self.config.pool is not None
        from urllib.parse import quote

        url = f"{self.config.pool.stats_url}/api/v1/accounts/{quote(account, safe='')}"
        try:
            async with self.http.get(url) as r:
                body = await r.content.read(MAX_BODY + 1) if r.status == 200 else b""
            data = json.loads(body) if 0 < len(body) <= MAX_BODY else {}
            hs = data.get("hashrate_hs") if isinstance(data, dict) else None
            if isinstance(hs, int | float) and not isinstance(hs, bool):
                self.core.set_pool(name, float(hs), self.clock())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("site %r: pool account unreadable: %s", name, printable(str(exc), 120))

    async def read_sites(self) -> None:
        reads = [self._read_site(n) for n in self.core.sites]
        if self.config.pool is not None:
            reads += [self._read_pool(n, s.pool_account)
                      for n, s in self.config.sites.items()
                      if s.pool_account and not self.core.sites[n].pool_from_workers]  # fmt: skip
        await asyncio.gather(*reads)

    async def _tell_site(self, name: str, path: str, body: dict[str, Any]) -> str:
        """POST to one fleetd; "ok" or what went wrong."""
        assert self.http is not None
        token = self.site_tokens.get(name)
        if token is None:
            return "no token configured for this site"
        try:
            async with self.http.post(
                self._site_url(name, path), json=body, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                return "ok" if r.status == 200 else f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return printable(f"{type(exc).__name__}: {exc}", 160)

    async def tell_every_site(self, path: str, body: dict[str, Any]) -> dict[str, str]:
        names = list(self.core.sites)
        results = await asyncio.gather(*(self._tell_site(n, path, body) for n in names))
        return dict(zip(names, results, strict=True))

    # ------------------------------------------------------------------ routes

    def _build(self) -> web.Application:
        app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY)
        r = app.router
        r.add_get("/feed/{site}", self.feed)
        r.add_get("/status", self.status)
        r.add_get("/history", self.history)
        r.add_get("/commands", self.commands)
        r.add_get("/report", self._auth(self.report))
        r.add_post("/portfolio", self._auth(self.portfolio))
        r.add_post("/emergency-stop", self._auth(self.emergency_stop))
        r.add_post("/resume", self._auth(self.resume))
        r.add_post("/sites/{site}/override", self._auth(self.set_override))
        r.add_delete("/sites/{site}/override", self._auth(self.clear_override))
        console().install(app)
        return app

    def _auth(self, handler: Handler) -> Handler:
        return bearer_guard(
            handler, self.tokens, BY, "actions are disabled: no [[api.tokens]] configured"
        )

    def _site(self, request: web.Request) -> str:
        name = request.match_info["site"]
        if name not in self.core.sites:
            raise json_error(web.HTTPNotFound, f"no site {printable(name, 64)!r}")
        return name

    _body = staticmethod(json_object)

    @staticmethod
    def _number(body: dict[str, Any], key: str, default: float | None = None) -> float:
        v = body.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise json_error(
                web.HTTPBadRequest, f"{key}: expected a number, got {printable(repr(v), 40)}"
            )
        return float(v)

    async def feed(self, request: web.Request) -> web.Response:
        return _json(self.core.feed(self._site(request), self.clock()))

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.core.status(self.clock()))

    async def history(self, request: web.Request) -> web.Response:
        since = None
        if "since" in request.query:
            try:
                since = float(request.query["since"])
            except ValueError:
                since = math.nan
            if not math.isfinite(since):
                return _error(400, "since: expected epoch seconds")
        now = self.clock()
        return _json({"at": now, "span_s": self.core.history.span_s,
                      "sites": self.core.history.series(now, since)})  # fmt: skip

    async def commands(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit: expected a whole number")
        recent = [r for r in self.core.audit.recent if r.get("kind") in COMMAND_KINDS]
        return _json({"records": recent[::-1][: max(0, min(limit, 200))]})

    async def report(self, request: web.Request) -> web.Response:
        """The regulator's report (coordinator.report): each fleetd's, with our commands."""
        from coordinator.report import ReportError, to_csv, to_json
        from coordinator.report_cli import parse_when, regulator_report

        assert self.http is not None
        try:
            since = parse_when(request.query.get("from", ""), "from")
            until = parse_when(request.query.get("to", ""), "to")
            if not 0 < until - since <= 31 * 86_400:
                raise ReportError("to - from: expected at most 31 days")
            rep = await regulator_report(
                self.config, since, until, self.http, self.core.pending_credited()
            )
        except ReportError as exc:
            return _error(400, str(exc))
        if request.query.get("format") == "csv":
            return web.Response(text=to_csv(rep), content_type="text/csv")
        return web.Response(text=to_json(rep), content_type="application/json")

    async def portfolio(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        mw = self._number(body, "mw")
        try:
            figures = self.core.set_portfolio(
                mw, request[BY], str(body.get("reason", "")), self.clock()
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return _json({"portfolio_mw": mw, "allotments": figures})

    async def emergency_stop(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        reason = str(body.get("reason", ""))
        figures = self.core.emergency_stop(request[BY], reason, self.clock())
        results = await self.tell_every_site("/emergency-stop", {"reason": reason})
        self.core.audit.write(
            "action-result", action="emergency-stop", by=request[BY], sites=results
        )
        return _json({"emergency": True, "allotments": figures, "sites": results})

    async def resume(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        reason = str(body.get("reason", ""))
        results = await self.tell_every_site("/resume", {"reason": reason})
        figures = self.core.resume(request[BY], reason, self.clock())
        self.core.audit.write("action-result", action="resume", by=request[BY], sites=results)
        return _json({"emergency": False, "allotments": figures, "sites": results})

    async def set_override(self, request: web.Request) -> web.Response:
        name = self._site(request)
        body = await self._body(request)
        mw, ttl = self._number(body, "mw"), self._number(body, "ttl_s", 3600.0)
        try:
            o = self.core.set_override(
                name, mw, ttl, request[BY], str(body.get("reason", "")), self.clock()
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return _json(
            {
                "site": name,
                "override": {
                    "mw": o.mw,
                    "expires_at": o.expires_at,
                    "by": o.by,
                    "reason": o.reason,
                },
            }
        )

    async def clear_override(self, request: web.Request) -> web.Response:
        name = self._site(request)
        return _json(
            {"site": name, "cleared": self.core.clear_override(name, request[BY], self.clock())}
        )

    @property
    def url(self) -> str:
        assert self.address is not None
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"


async def serve(config: ControlConfig, ready: Callable[[ControlDaemon], None]) -> None:
    """Run until cancelled (SIGTERM/SIGINT handled by the caller)."""
    async with ControlDaemon(config) as daemon:
        ready(daemon)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
