"""The coordinator as an OpenADR 2.0b VEN (openleadr's OpenADRClient): it registers with
the grid operator's VTN, polls it, opts in or out of each event, and reports the metered
power of all its sites as TELEMETRY_USAGE.

What an event means is decided in plumbing.openadr (pure); this shell hands openleadr's
parsed events to it and the core (coordinator.core) turns them into site allotments. An
event the coordinator cannot apply is opted out of, logged and audited. When the VTN
cannot be reached the VEN tries again every `retry_s` with a fresh client (openleadr's
client stops itself when its registration fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from coordinator.config import OpenAdrTable
from coordinator.core import Coordinator
from plumbing.escape import printable
from plumbing.openadr import EventError, event_windows

log = logging.getLogger("coordinator.ven")


class Ven:
    def __init__(
        self,
        table: OpenAdrTable,
        core: Coordinator,
        wake: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.core = core
        self.wake = wake  # the daemon re-plans its next round (a boundary may have moved)
        self.clock = clock
        self.client: Any = None
        self.registered = asyncio.Event()
        self.events_seen = 0
        self.opted: dict[str, str] = {}  # event id -> optIn / optOut
        self.reports_sent = 0
        self._task: asyncio.Task[None] | None = None

    def _new_client(self) -> Any:
        from openleadr import OpenADRClient  # heavy (lxml, apscheduler): only with a VTN

        t = self.table
        client = OpenADRClient(
            ven_name=t.ven_name,
            vtn_url=t.vtn_url,
            ven_id=t.ven_id,
            cert=None if t.cert is None else str(t.cert),
            key=None if t.key is None else str(t.key),
            vtn_fingerprint=t.vtn_fingerprint,
            show_fingerprint=False,
            ca_file=None if t.ca_file is None else str(t.ca_file),
            disable_signature=t.cert is None,
        )
        client.add_handler("on_event", self.on_event)
        client.add_handler("on_update_event", self.on_event)
        client.add_report(
            callback=self.metered_w,
            resource_id="portfolio",
            measurement="power_real",
            unit="W",
            sampling_rate=timedelta(seconds=t.report_every_s),
        )
        return client

    def metered_w(self) -> float:
        """The draw of every site with a fresh report (W): the telemetry the VTN gets."""
        now = self.clock()
        self.reports_sent += 1
        return sum(
            r.draw_mw * 1e6
            for v in self.core.sites.values()
            if (r := self.core.fresh_report(v, now)) is not None
        )

    async def on_event(self, event: dict[str, Any]) -> str:
        """optIn (and the event applies) or optOut (and it does not)."""
        self.events_seen += 1
        now = self.clock()
        descriptor = event.get("event_descriptor") or {}
        event_id = printable(descriptor.get("event_id", "?"), 64)
        status = str(descriptor.get("event_status", ""))
        if status in ("cancelled", "completed"):
            self.core.drop_event(event_id, now, status)
            self.wake()
            self.opted[event_id] = "optIn"
            return "optIn"
        try:
            windows = event_windows(
                event, levels=self.table.simple_levels, dispatch_unit=self.table.dispatch_unit
            )
        except EventError as exc:
            reason = printable(str(exc), 200)
            log.warning("OpenADR event %r opted out: %s", event_id, reason)
            self.core.audit.write("openadr", ts=now, event_id=event_id, opt="optOut", detail=reason)
            self.opted[event_id] = "optOut"
            return "optOut"
        log.info("OpenADR event %r (%s) opted in: %d window(s)", event_id, status, len(windows))
        self.core.set_event(event_id, windows, now, f"status {status}")
        self.wake()
        self.opted[event_id] = "optIn"
        return "optIn"

    async def _run(self) -> None:
        while True:
            client = self._new_client()
            try:
                await client.run()
            except Exception as exc:  # openleadr raises little, but a VEN must not die
                log.warning("OpenADR VEN: %s", printable(f"{type(exc).__name__}: {exc}", 200))
            if client.registration_id:
                self.client = client
                self.registered.set()
                log.info(
                    "OpenADR VEN %r registered with the VTN (ven_id %r)",
                    self.table.ven_name,
                    client.ven_id,
                )
                return
            with contextlib.suppress(Exception):
                if client.client_session is not None:
                    await client.client_session.close()
            log.warning(
                "OpenADR VEN: no registration with the VTN; again in %g s", self.table.retry_s
            )
            await asyncio.sleep(self.table.retry_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.stop()
