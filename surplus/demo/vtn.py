"""A grid operator's OpenADR 2.0b VTN for the control-room demo and its tests: openleadr's
own OpenADRServer, run as a process of its own.

    python -m surplus.demo.vtn --port P --events FILE --log FILE

It registers any VEN (ven_id "ven-<name>"), asks for every telemetry report it offers
(every second), and sends the events the test appends to FILE, one JSON object a line:

    {"id": "e1", "signal": "SIMPLE", "type": "level", "start_in_s": 0, "duration_s": 30,
     "payload": 2}
    {"id": "e2", ..., "start_at": 1750000000.0}        # absolute start (epoch s)
    {"cancel": "e1"}

What happens is written to --log, one JSON object a line: registrations, each event's
delivery and the VEN's opt (optIn / optOut), and each reported value. `Script` is the
other end of both files, for the demo and the tests that run the VTN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openleadr import OpenADRServer, enums, objects


class Vtn:
    def __init__(self, port: int, events: Path, log: Path) -> None:
        self.events_path = events
        self.log_path = log
        self.ven_ids: set[str] = set()
        self.seen_lines = 0
        self.server = OpenADRServer(
            vtn_id="SURPLUS-TEST-VTN",
            http_host="127.0.0.1",
            http_port=port,
            requested_poll_freq=timedelta(seconds=1),
            show_fingerprint=False,
            ven_lookup=self.ven_lookup,
        )
        self.server.add_handler("on_create_party_registration", self.on_register)
        self.server.add_handler("on_register_report", self.on_register_report)

    def write(self, kind: str, **fields: Any) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"ts": time.time(), "kind": kind} | fields, default=str) + "\n")

    def ven_lookup(self, ven_id: str) -> dict[str, Any]:
        if ven_id in self.ven_ids:
            return {
                "ven_id": ven_id,
                "ven_name": ven_id.removeprefix("ven-"),
                "fingerprint": None,
                "registration_id": f"reg-{ven_id}",
            }
        return {}

    def on_register(self, payload: dict[str, Any]) -> tuple[str, str]:
        ven_id = f"ven-{payload['ven_name']}"
        self.ven_ids.add(ven_id)
        self.write("registered", ven_id=ven_id, ven_name=payload["ven_name"])
        return ven_id, f"reg-{ven_id}"

    def on_register_report(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        self.write(
            "report-offered",
            ven_id=ven_id,
            resource_id=resource_id,
            measurement=measurement,
            unit=unit,
        )

        def received(data: list[tuple[datetime, float]]) -> None:
            for when, value in data:
                self.write(
                    "report",
                    ven_id=ven_id,
                    resource_id=resource_id,
                    at=when.timestamp(),
                    value=value,
                )

        return received, max(min_sampling_interval, timedelta(seconds=1))

    def on_opt(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.write("opt", ven_id=ven_id, event_id=event_id, opt_type=opt_type)

    def add(self, spec: dict[str, Any]) -> None:
        if "cancel" in spec:
            for ven_id in self.ven_ids:
                self.server.cancel_event(ven_id, spec["cancel"])
            self.write("cancelled", event_id=spec["cancel"])
            return
        start = spec.get("start_at", time.time() + float(spec.get("start_in_s", 0.0)))
        interval = objects.Interval(
            dtstart=datetime.fromtimestamp(start, UTC),
            duration=timedelta(seconds=float(spec["duration_s"])),
            signal_payload=float(spec["payload"]),
        )
        for ven_id in sorted(self.ven_ids):
            self.server.add_event(
                ven_id=ven_id,
                signal_name=spec["signal"],
                signal_type=spec["type"],
                intervals=[interval],
                event_id=spec["id"],
                callback=self.on_opt,
                market_context="oadr://surplus.test",
                response_required="always",
            )
        self.write(
            "event", event_id=spec["id"], start=start, ven_ids=sorted(self.ven_ids), spec=spec
        )

    async def watch(self) -> None:
        """Add each new line of the events file as it appears."""
        while True:
            if self.events_path.exists():
                lines = self.events_path.read_text().splitlines()
                for line in lines[self.seen_lines :]:
                    if line.strip():
                        self.add(json.loads(line))
                self.seen_lines = len(lines)
            await asyncio.sleep(0.1)


def child(port: int, events: Path, log: Path, output: Path) -> Any:
    """The VTN as a child process of the demo or a test (surplus.demo.procs.Child): not
    started yet; `await child.start()`."""
    import sys

    from surplus.demo.procs import Child

    vtn = Child("vtn", [], output)
    vtn.argv = [
        sys.executable,
        "-m",
        "surplus.demo.vtn",
        "--port",
        str(port),
        "--events",
        str(events),
        "--log",
        str(log),
    ]
    return vtn


class Script:
    """A VTN child process and the two files it is driven by: `event` and `cancel` append
    to its events, `log` and what follows read back what it saw. In `folder`:
    vtn-events.jsonl, vtn-log.jsonl, and the process's output unless told otherwise.

        async with Script(free_port(), tmp_path) as vtn:   # started, stopped on the way out
            vtn.event("e1", "SIMPLE", "level", 2, duration_s=600)
    """

    def __init__(self, port: int, folder: Path, output: Path | None = None) -> None:
        self.port = port
        self.events = folder / "vtn-events.jsonl"
        self.log_path = folder / "vtn-log.jsonl"
        for path in (self.events, self.log_path):
            path.write_text("")
        self.process = child(port, self.events, self.log_path, output or folder / "vtn.out")

    @property
    def url(self) -> str:
        """Where a VEN finds it (its `vtn_url`)."""
        return f"http://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"

    async def __aenter__(self) -> Script:
        await self.process.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.process.stop(10.0)

    def event(self, event_id: str, signal: str, kind: str, payload: float, *,
              duration_s: float, start_at: float | None = None) -> None:  # fmt: skip
        """Have the VTN send an event of `kind` (its signal type): starting now, or at
        `start_at` (epoch seconds)."""
        start = {"start_in_s": 0} if start_at is None else {"start_at": start_at}
        self._append({"id": event_id, "signal": signal, "type": kind, **start,
                      "duration_s": duration_s, "payload": payload})  # fmt: skip

    def cancel(self, event_id: str) -> None:
        self._append({"cancel": event_id})

    def _append(self, spec: dict[str, Any]) -> None:
        with self.events.open("a") as f:
            f.write(json.dumps(spec) + "\n")

    def log(self) -> list[dict[str, Any]]:
        """What the VTN has written so far, oldest first."""
        return [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]

    def registered(self) -> bool:
        return any(x["kind"] == "registered" for x in self.log())

    def opts(self, event_id: str) -> list[str]:
        """The VEN's answers to the event so far (optIn / optOut)."""
        return [x["opt_type"] for x in self.log()
                if x["kind"] == "opt" and x["event_id"] == event_id]  # fmt: skip

    def reports(self) -> list[float]:
        """The telemetry values the VEN has reported so far."""
        return [x["value"] for x in self.log() if x["kind"] == "report"]


async def main(args: argparse.Namespace) -> None:
    vtn = Vtn(args.port, args.events, args.log)
    await vtn.server.run()
    vtn.write("listening", port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(vtn.watch())
    await stop.wait()
    watcher.cancel()
    await vtn.server.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--log", type=Path, required=True)
    _ = enums  # the signal names the tests send are openleadr's own
    asyncio.run(main(p.parse_args()))
