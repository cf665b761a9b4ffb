"""fleetd's HTTP API (aiohttp), described by the OpenAPI 3.1 document it serves at
/openapi.json (built from the answer models of fleetd.api_schema).

    GET    /sites                               every site: allotment, power, rigs by state
    GET    /sites/{site}                        one site
    GET    /sites/{site}/rigs                   every rig: reading, intent, thermal cap
    GET    /sites/{site}/plan                   the last plan, per rig
    GET    /sites/{site}/allotment              the allotment, each source's state and why
    GET    /sites/{site}/report?from=T&to=T     the compliance report (fleetd.report), JSON
    POST   /sites/{site}/allotment/override     {"mw", "ttl_s", "reason"}  cap by hand
    DELETE /sites/{site}/allotment/override     lift it
    POST   /sites/{site}/emergency-stop         {"reason"}  every rig to sleep, and keep them so
    POST   /sites/{site}/resume                 end the emergency stop
    PUT    /sites/{site}/shed-first             {"rigs": [...]}  shed these before any other
    POST   /emergency-stop                      every site

Reads are open; mutations need `Authorization: Bearer <token>` with one of the configured
tokens and are refused when none is configured. The audit log records who acted by the
name of the token used (`api` for the single `api.token`), never by a field of the request.
The server listens where api.listen says (loopback by default; the config refuses a
non-loopback address without a token).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from fleetd.allotment import AllotmentError
from fleetd.api_schema import OPENAPI
from fleetd.control.controller import SiteController
from fleetd.report import INTERVAL_S, ReportError, build_report, parse_when, to_json
from plumbing.httpapi import (
    bearer_guard,
    error_response,
    json_errors,
    json_object,
    json_response,
)

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BY = web.RequestKey("fleetd_by", str)  # the name of the token a mutation came with
MAX_SHED_FIRST = 100_000  # rigs in one shed-first list
MAX_REPORT_S = 31 * 86_400.0  # one request's report span (a month of 15-minute rows)


_json, _error = json_response, error_response


class FleetdApi:
    """The API over a set of site controllers. `await start()` / `await stop()`."""

    def __init__(
        self,
        controllers: Mapping[str, SiteController],
        *,
        host: str = "127.0.0.1",
        port: int = 8470,
        token: str | None = None,
        tokens: Mapping[str, str] | None = None,
        audit_path: Path | None = None,
    ) -> None:
        self.controllers = controllers
        self.audit_path = audit_path  # where the compliance report is read from (None: off)
        self.host = host
        self.port = port
        # name -> token; a lone `token` is named "api", as in the config
        self.tokens: dict[str, str] = dict(tokens or {})
        if token is not None:
            self.tokens.setdefault("api", token)
        self.app = self._build()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the real one when port=0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ routes

    def _build(self) -> web.Application:
        app = web.Application(middlewares=[json_errors])
        r = app.router
        r.add_get("/openapi.json", self.openapi)
        r.add_get("/sites", self.sites)
        r.add_get("/sites/{site}", self.site)
        r.add_get("/sites/{site}/rigs", self.rigs)
        r.add_get("/sites/{site}/plan", self.plan)
        r.add_get("/sites/{site}/allotment", self.allotment)
        r.add_get("/sites/{site}/report", self.report)
        r.add_post("/sites/{site}/allotment/override", self._auth(self.set_override))
        r.add_delete("/sites/{site}/allotment/override", self._auth(self.clear_override))
        r.add_post("/sites/{site}/emergency-stop", self._auth(self.emergency_stop))
        r.add_post("/sites/{site}/resume", self._auth(self.resume))
        r.add_put("/sites/{site}/shed-first", self._auth(self.set_shed_first))
        r.add_post("/emergency-stop", self._auth(self.emergency_stop_all))
        return app

    def _auth(self, handler: Handler) -> Handler:
        return bearer_guard(handler, self.tokens, BY,
                            "mutations are disabled: no api.token is configured")  # fmt: skip

    def _controller(self, request: web.Request) -> SiteController:
        name = request.match_info["site"]
        ctl = self.controllers.get(name)
        if ctl is None:
            known = ", ".join(self.controllers)
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no site {name!r}; sites: {known}"}),
                content_type="application/json",
            )
        return ctl

    _body = staticmethod(json_object)

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(OPENAPI)

    async def sites(self, request: web.Request) -> web.Response:
        return _json({"sites": [_summary(c) for c in self.controllers.values()]})

    async def site(self, request: web.Request) -> web.Response:
        return _json(_summary(self._controller(request)))

    async def allotment(self, request: web.Request) -> web.Response:
        return _json(allotment_view(self._controller(request)))

    async def rigs(self, request: web.Request) -> web.Response:
        ctl = self._controller(request)
        return _json({"site": ctl.name, "rigs": ctl.rigs()})

    async def plan(self, request: web.Request) -> web.Response:
        return _json(self._controller(request).plan_view())

    async def report(self, request: web.Request) -> web.Response:
        """The site's compliance report (what `surplus fleetd report --json` writes), for a
        coordinator's report across sites; read in a thread, off the control loop."""
        ctl = self._controller(request)
        if self.audit_path is None:
            return _error(404, "no audit log is configured: no compliance report")
        try:
            since = parse_when(request.query.get("from", ""), "from")
            until = parse_when(request.query.get("to", ""), "to")
            if not 0 < until - since <= MAX_REPORT_S:
                raise ReportError(f"to - from: expected (0, {MAX_REPORT_S:g}] seconds")
            rows = await asyncio.to_thread(
                build_report, self.audit_path, site=ctl.name, since=since, until=until,
                interval_s=INTERVAL_S,
            )  # fmt: skip
        except ReportError as exc:
            return _error(400, str(exc))
        report = json.loads(to_json(rows, site=ctl.name, since=since, until=until))
        return _json({"site": ctl.name, "report": report})

    async def set_override(self, request: web.Request) -> web.Response:
        ctl = self._controller(request)
        body = await self._body(request)
        numbers: dict[str, float] = {}
        for key, v in (("mw", body.get("mw")), ("ttl_s", body.get("ttl_s", 3600.0))):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return _error(400, f"{key}: expected a number, got {v!r}")
            numbers[key] = float(v)
        reason = str(body.get("reason", ""))
        try:
            o = ctl.set_override(numbers["mw"], ttl_s=numbers["ttl_s"], reason=reason,
                                 by=request[BY])  # fmt: skip
        except AllotmentError as exc:
            return _error(400, str(exc))
        log.info("site %r: allotment override %g MW for %g s by %r: %r", ctl.name, o.mw,
                 numbers["ttl_s"], request[BY], reason)  # fmt: skip
        return _json({"site": ctl.name, "override": {
            "mw": o.mw, "expires_at": o.expires_at, "change_id": o.change_id,
            "reason": o.reason, "by": o.by}})  # fmt: skip

    async def clear_override(self, request: web.Request) -> web.Response:
        ctl = self._controller(request)
        old = ctl.clear_override(by=request[BY])
        if old is not None:
            log.info("site %r: allotment override lifted by %r", ctl.name, request[BY])
        return _json({"site": ctl.name, "cleared": old is not None})

    async def emergency_stop(self, request: web.Request) -> web.Response:
        ctl = self._controller(request)
        body = await self._body(request)
        reason = str(body.get("reason", ""))
        log.warning("site %r: emergency stop by %r: %r", ctl.name, request[BY], reason)
        await ctl.emergency_stop(by=request[BY], reason=reason)
        return _json({"site": ctl.name, "emergency": True})

    async def resume(self, request: web.Request) -> web.Response:
        ctl = self._controller(request)
        body = await self._body(request)
        log.info("site %r: resumed after the emergency stop by %r", ctl.name, request[BY])
        await ctl.resume(by=request[BY], reason=str(body.get("reason", "")))
        return _json({"site": ctl.name, "emergency": False})

    async def set_shed_first(self, request: web.Request) -> web.Response:
        """The rigs to shed before any other (fleetd.control.shed_first): the list
        replaces the last; an empty one ends it."""
        ctl = self._controller(request)
        body = await self._body(request)
        rigs = body.get("rigs")
        if not isinstance(rigs, list) or len(rigs) > MAX_SHED_FIRST or not all(
            isinstance(r, str) and 0 < len(r) <= 256 for r in rigs
        ):
            return _error(400, f"rigs: expected a list of at most {MAX_SHED_FIRST} rig names")
        known = {n for s in ctl.site.specs for n in (s.name, s.host)}
        listed = frozenset(r for r in rigs if r in known)
        if listed != ctl.shed_first:
            log.warning("site %r: %d rig(s) to shed first, by %r: %r", ctl.name, len(listed),
                        request[BY], str(body.get("reason", ""))[:200])  # fmt: skip
            ctl.shed_first = listed
            ctl.trigger("shed-first")
        unknown = sorted({r for r in rigs if r not in known})[:100]
        return _json({"site": ctl.name, "rigs": sorted(listed), "unknown": unknown})

    async def emergency_stop_all(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        reason = str(body.get("reason", ""))
        log.warning("every site: emergency stop by %r: %r", request[BY], reason)
        for ctl in self.controllers.values():
            await ctl.emergency_stop(by=request[BY], reason=reason)
        return _json({"sites": list(self.controllers), "emergency": True})


def _summary(ctl: SiteController) -> dict[str, Any]:
    """A site's summary with each allotment source's state (a failing feed says why)."""
    return ctl.summary() | {"allotment_sources": allotment_view(ctl)["sources"]}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def allotment_view(ctl: SiteController) -> dict[str, Any]:
    """The allotment fleetd steers by, the one last granted, and every source: its figure,
    its state (ok, failing, stale), what is wrong and for how long."""
    allot, now = ctl.site.allotment, ctl.clock()
    eff, granted = allot.effective(now), allot.in_force(now)
    sources = []
    for st in allot.status(now):
        sources.append({
            "name": st.source, "kind": st.kind, "mw": _finite(st.mw), "as_of": st.as_of,
            "age_s": _finite(st.age_s), "stale": st.stale, "state": st.state,
            "reason": st.reason, "failing_since": st.failing_since,
            "failing_for_s": _finite(st.failing_for_s(now)), "errors": st.errors,
            "last_error": st.last_error,
        })  # fmt: skip
    return {
        "site": ctl.name, "at": now, "allotment_mw": eff.mw, "bound_by": eff.bound_by,
        "reason": eff.reason, "stale": eff.stale, "in_force_mw": granted.mw,
        "sources": sources,
    }  # fmt: skip
