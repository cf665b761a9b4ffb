"""fleetd as its own OpenADR 2.0b VEN (openleadr's OpenADRClient): one more allotment
source, for an operator with one site and no coordinator.

The grid operator's VTN sends events; plumbing.openadr (the same pure mapping the
coordinator's VEN uses) turns each into windows over this source's `base_mw`: SIMPLE
levels as fractions of it, LOAD_DISPATCH setpoints and deltas, LOAD_CONTROL capacity.
While a window is in force the source's figure is the lowest of them (never above
base_mw: the grid may cut, never add), and, as every source's, it binds when it is the
lowest of the site's; outside any window the source does not apply (current() is None),
so the site's other sources decide. An event that starts later is announced through
next_changes, so the controller pre-sheds for it, as for a schedule. Events with a
signal it does not apply are opted out of; cancelled and completed ones are dropped.
The site's draw (the meter, else fleetd's estimate) goes to the VTN as TELEMETRY_USAGE
every report_every_s.

The pure part (set_event, drop_event, current, next_changes, status) runs in tests
without a VTN; run() is the shell: register, poll, and try again every retry_s with a
fresh client when the VTN cannot be reached (openleadr's client stops itself when its
registration fails). It never raises: the daemon runs it beside the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fleetd.allotment.base import AllotmentReading, ScheduledChange, SourceStatus, check_mw
from plumbing.escape import printable
from plumbing.openadr import (
    DEFAULT_LEVELS,
    EventError,
    Window,
    boundaries,
    event_windows,
    figure_at,
)

log = logging.getLogger("fleetd.openadr")
MAX_EVENTS = 256  # events held at once (a VTN cannot grow fleetd's memory without bound)


@dataclass
class VenSettings:
    vtn_url: str
    ven_name: str = "surplus-fleetd"
    ven_id: str | None = None
    cert: str | None = None
    key: str | None = None
    vtn_fingerprint: str | None = None
    ca_file: str | None = None
    retry_s: float = 10.0
    report_every_s: float = 10.0  # the site's metered power as TELEMETRY_USAGE


@dataclass
class OpenAdrSource:
    base_mw: float
    settings: VenSettings
    name: str = "openadr"
    levels: Sequence[float] = DEFAULT_LEVELS
    dispatch_unit: str = "kW"
    clock: Callable[[], float] = time.time
    kind: str = field(default="openadr", init=False)
    windows: dict[str, list[Window]] = field(default_factory=dict, init=False)
    opted: dict[str, str] = field(default_factory=dict, init=False)  # event id -> optIn/optOut
    registered: bool = field(default=False, init=False)
    errors: int = field(default=0, init=False)
    last_error: str = field(default="", init=False)
    changed_at: float | None = field(default=None, init=False)
    client: Any = field(default=None, init=False)
    # the site's draw (W) for the VTN's telemetry; set by fleetd.daemon (None: no reports)
    metered_w: Callable[[], float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.base_mw = check_mw(f"allotment source {self.name!r}: base_mw", self.base_mw)

    # ------------------------------------------------------------------ pure

    def _all(self) -> list[Window]:
        return [w for ws in self.windows.values() for w in ws]

    def on_event(self, event: dict[str, Any], now: float) -> str:
        """optIn (the event applies from now on) or optOut (it does not)."""
        descriptor = event.get("event_descriptor") or {}
        event_id = printable(descriptor.get("event_id", "?"), 64)
        status = str(descriptor.get("event_status", ""))
        if status in ("cancelled", "completed"):
            if self.windows.pop(event_id, None) is not None:
                self.changed_at = now
                log.info("OpenADR event %r %s: dropped", event_id, status)
            self.opted[event_id] = "optIn"
            return "optIn"
        try:
            windows = event_windows(event, levels=self.levels, dispatch_unit=self.dispatch_unit)
        except EventError as exc:
            log.warning("OpenADR event %r opted out: %s", event_id, printable(str(exc), 200))
            self.opted[event_id] = "optOut"
            return "optOut"
        if event_id not in self.windows and len(self.windows) >= MAX_EVENTS:
            log.warning("OpenADR event %r opted out: %d events held already", event_id, MAX_EVENTS)
            self.opted[event_id] = "optOut"
            return "optOut"
        self.windows[event_id] = windows
        self.changed_at = now
        self.opted[event_id] = "optIn"
        log.info("OpenADR event %r (%s) opted in: %d window(s)", event_id, status, len(windows))
        return "optIn"

    def _in_force(self, t: float) -> list[Window]:
        return [w for w in self._all() if w.start <= t < w.end]

    def current(self, now: float) -> AllotmentReading | None:
        live = self._in_force(now)
        if not live:
            return None
        mw = figure_at(self.base_mw, live, now)
        ids = ",".join(sorted({w.event_id for w in live}))
        since = max(w.start for w in live)
        return AllotmentReading(mw, since, self.name, f"{self.name}:{ids}:{mw:g}",
                                detail=f"OpenADR event {ids}")  # fmt: skip

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        """Each moment a window starts or ends: the figure from then (base_mw when no
        window is in force: the step that lifts this source's cut)."""
        windows = self._all()
        return [
            ScheduledChange(at, figure_at(self.base_mw, windows, at), self.name)
            for at in boundaries(windows, now, horizon_s)
        ]

    def status(self, now: float) -> SourceStatus:
        r = self.current(now)
        state = "ok" if self.registered else "failing"
        reason = "" if self.registered else (self.last_error or "not registered with the VTN")
        return SourceStatus(
            self.name, self.kind, None if r is None else r.mw, None if r is None else r.as_of,
            None if r is None else r.age_s(now), stale=False, errors=self.errors,
            last_error=self.last_error, state=state, reason=reason,
        )  # fmt: skip

    # ------------------------------------------------------------------ the shell

    async def _handle(self, event: dict[str, Any]) -> str:
        return self.on_event(event, self.clock())

    def _new_client(self) -> Any:
        from openleadr import OpenADRClient  # heavy (lxml, apscheduler): only with a VTN

        s = self.settings
        client = OpenADRClient(
            ven_name=s.ven_name, vtn_url=s.vtn_url, ven_id=s.ven_id, cert=s.cert, key=s.key,
            vtn_fingerprint=s.vtn_fingerprint, show_fingerprint=False, ca_file=s.ca_file,
            disable_signature=s.cert is None,
        )  # fmt: skip
        client.add_handler("on_event", self._handle)
        client.add_handler("on_update_event", self._handle)
        if self.metered_w is not None:
            client.add_report(
                callback=self.metered_w, resource_id=self.name, measurement="power_real",
                unit="W", sampling_rate=timedelta(seconds=s.report_every_s),
            )  # fmt: skip
        return client

    async def run(self) -> None:
        """Register with the VTN and let openleadr poll it; again every retry_s until
        registered. Cancelled: the client stops."""
        try:
            while not self.registered:
                client = self._new_client()
                try:
                    await client.run()
                except Exception as exc:  # openleadr raises little, but a VEN must not die
                    self.errors += 1
                    self.last_error = printable(f"{type(exc).__name__}: {exc}", 200)
                if client.registration_id:
                    self.client, self.registered = client, True
                    log.info("OpenADR VEN %r registered (ven_id %r)", self.settings.ven_name,
                             client.ven_id)  # fmt: skip
                    break
                self.errors += 1
                self.last_error = self.last_error or "no registration with the VTN"
                with contextlib.suppress(Exception):
                    if client.client_session is not None:
                        await client.client_session.close()
                log.warning("OpenADR VEN: no registration with the VTN; again in %g s",
                            self.settings.retry_s)  # fmt: skip
                await asyncio.sleep(self.settings.retry_s)
            await asyncio.Event().wait()  # openleadr polls on its own scheduler
        finally:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    await self.client.stop()
