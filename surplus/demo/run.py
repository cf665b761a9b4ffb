"""The whole demo run: kernels, configs, the three programs, the screen, the summary.

Order: compile the SHA-256d kernels if this machine never has (saying so), write the
run's configs, serve the grid feed, start the pool, then rigsim (whose rigs connect to
the pool), then fleetd (which drives the rigs through pyasic). Every half second the
screen is refreshed and the compliance watch gets a sample of each site's meter. At the
end (--duration, Ctrl-C or SIGTERM) the programs are stopped in reverse order, the
compliance report is written from fleetd's audit log and a summary printed, last of all
one machine-readable line starting with `demo:`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.live import Live

from plumbing.escape import printable
from plumbing.redact import redact
from surplus.demo import dashboard
from surplus.demo.compliance import ComplianceWatch
from surplus.demo.grid import GridFeed, GridServer
from surplus.demo.layout import (
    CHECKOUT_CONFIGS,
    GRID_SITE,
    POOL_ADDRESS,
    Layout,
    Ports,
    node_payout_address,
    write_layout,
)
from surplus.demo.observe import Observer, Snapshot
from surplus.demo.procs import Child, DemoError, wait_ready

SAMPLE_S = 0.5  # compliance samples and screen refreshes
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DemoOptions:
    duration: float | None
    headless: bool
    time_scale: float | None
    rigs: int | None
    node: str | None
    out: Path
    free_ports: bool
    block_time_s: float
    log_every_s: float
    configs: Path | None = None
    cut_at_s: float = 150.0
    cut_depth: float = 0.2


async def ensure_kernels(say: Any, console: Console | None) -> None:
    """Compile the numba kernels once per machine and measure the fastest, showing
    progress; a later run finds both in numba's on-disk cache and goes straight on."""
    from hashing.warm import is_cached, warm

    if is_cached():
        return
    say("first run on this machine: compiling the SHA-256d kernels (about 15 s on 2 cores, "
        "once; later runs start in seconds)")  # fmt: skip
    started = time.monotonic()
    job = asyncio.ensure_future(asyncio.to_thread(warm))
    status = console.status("compiling the SHA-256d kernels") if console is not None else None
    with status or contextlib.nullcontext():
        while not job.done():
            await asyncio.wait({job}, timeout=1.0 if status is not None else 10.0)
            elapsed = time.monotonic() - started
            if status is not None:
                status.update(f"compiling the SHA-256d kernels: {elapsed:.0f} s")
            elif not job.done():
                say(f"still compiling the SHA-256d kernels ({elapsed:.0f} s)")
    job.result()
    say(f"kernels compiled in {time.monotonic() - started:.0f} s")


class Demo:
    def __init__(self, opts: DemoOptions, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.children: list[Child] = []
        self.stop = asyncio.Event()
        self.site_names: list[str] = []

    def say(self, text: str) -> None:
        if self.opts.headless:
            print(f"demo: {printable(text)}", flush=True)
        else:
            self.console.print(f"[bold cyan]demo[/] {dashboard.markup(text, None)}")

    # ------------------------------------------------------------------ start

    async def _start_children(self, layout: Layout, http: aiohttp.ClientSession) -> None:
        p, logs = layout.ports, layout.out
        pool = Child("pool", ["pool", "--config", str(layout.pool_file)], logs / "pool.log")
        rigsim = Child("rigsim", ["rigsim", "--fleet", str(layout.fleet_file), "--pool",
                                  layout.stratum_url, "--metrics",
                                  f"127.0.0.1:{p.rigsim_metrics}", "--status-every", "0"],
                       logs / "rigsim.log")  # fmt: skip
        fleetd = Child("fleetd", ["fleetd", "--config", str(layout.fleetd_file)],
                       logs / "fleetd.log")  # fmt: skip
        for child, url in (
            (pool, f"http://127.0.0.1:{p.pool_stats}/api/v1/pool"),
            (rigsim, f"http://127.0.0.1:{p.rigsim_metrics}/sites"),
            (fleetd, f"http://127.0.0.1:{p.fleetd_api}/sites"),
        ):
            self.say(f"starting {child.name} (log: {child.log})")
            await child.start()
            self.children.append(child)
            await wait_ready(child, url, http, START_TIMEOUT_S)

    async def stop_children(self) -> None:
        for child in reversed(self.children):
            code = await child.stop()
            if code not in (0, None, -signal.SIGTERM):
                self.say(f"{child.name} stopped with code {code}; see {child.log}")

    # ------------------------------------------------------------------ loop

    def _check_children(self) -> None:
        for child in self.children:
            if not child.alive:
                raise child.failure()

    async def _loop(self, observer: Observer, watch: ComplianceWatch, urls: dict[str, str],
                    started: float) -> Snapshot:  # fmt: skip
        deadline = None if self.opts.duration is None else started + self.opts.duration
        last_log = 0.0
        live: Live | None = None
        if not self.opts.headless:
            live = Live(console=self.console, auto_refresh=False, transient=False)
            live.start()
        snap: Snapshot | None = None
        try:
            while not self.stop.is_set():
                now = time.time()
                previous, snap = snap, await observer.snapshot(now)
                for event in dashboard.events(previous, snap):
                    if live is not None:
                        live.console.print(event, markup=False)  # names escaped, not markup
                    else:
                        print(f"t={snap.elapsed_s:6.1f}s {event}", flush=True)
                for s in snap.sites:
                    if s.meter_kw is not None:
                        watch.add(s.name, snap.t, s.meter_kw * 1e3, s.cap_mw * 1e6, s.cut_since)
                self._check_children()
                if live is not None:
                    screen = dashboard.render(
                        snap,
                        duration=self.opts.duration,
                        urls=urls,
                        hashrate_scale=observer.layout.hashrate_scale,
                    )
                    live.update(screen, refresh=True)
                elif now - last_log >= self.opts.log_every_s:
                    last_log = now
                    for line in dashboard.headless_lines(snap):
                        print(line, flush=True)
                if deadline is not None and now >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), SAMPLE_S)
        finally:
            if live is not None:
                live.stop()
        assert snap is not None
        return snap

    # ------------------------------------------------------------------ end

    async def _scrape(self, http: aiohttp.ClientSession, url: str) -> dict[str, float]:
        """Sum each metric family's samples on one /metrics page (name -> total)."""
        from prometheus_client.parser import text_string_to_metric_families

        async with http.get(url) as r:
            text = await r.text()
        out: dict[str, float] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[s.name] = out.get(s.name, 0.0) + float(s.value)
                for k, v in s.labels.items():
                    key = f"{s.name}{{{k}={v}}}"
                    out[key] = out.get(key, 0.0) + float(s.value)
        return out

    def _reports(self, layout: Layout, since: float, until: float) -> list[Path]:
        from fleetd.report import build_report, to_csv, to_json

        written = []
        for site in self.site_names:
            rows = build_report(layout.audit_file, site=site, since=since, until=until)
            for ext, text in (
                ("csv", to_csv(rows)),
                ("json", to_json(rows, site=site, since=since, until=until)),
            ):
                path = layout.out / f"report-{site}.{ext}"
                path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
                written.append(path)
        return written

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        opts = self.opts
        await ensure_kernels(self.say, None if opts.headless else self.console)
        ports = Ports.free() if opts.free_ports else Ports()
        taken = ports.taken()
        if taken:
            names = ", ".join(f"{p} ({n})" for n, p in taken)
            raise DemoError(f"ports already in use on 127.0.0.1: {names}; is another demo or "
                            "pool running? Stop it, or run with --free-ports")  # fmt: skip
        payout = POOL_ADDRESS
        if opts.node is not None:
            try:
                payout = await asyncio.to_thread(node_payout_address, opts.node)
            except Exception as exc:
                raise DemoError(
                    f"--node {redact(opts.node)}: {type(exc).__name__}: {redact(str(exc))}"
                ) from None
        start = time.time()
        layout = write_layout(opts.out, configs=find_configs(opts.configs), ports=ports,
                              start=start, rigs=opts.rigs,
                              compress=opts.time_scale, node_url=opts.node,
                              block_time_s=opts.block_time_s,
                              payout_address=payout)  # fmt: skip
        self.site_names = list(layout.sites)
        grid = {
            GRID_SITE: GridFeed(
                GRID_SITE,
                layout.grid_nominal_mw,
                start,
                first_cut_s=opts.cut_at_s,
                depth=opts.cut_depth,
            )
        }
        self.say(f"{layout.rigs} emulated rigs over {len(self.site_names)} sites; allotment day "
                 f"x{layout.compress:g} (a day in {86400 / layout.compress / 60:.0f} min); "
                 f"configs in {layout.out}")  # fmt: skip
        if layout.block_difficulty is not None:
            self.say(f"devnet chain: block difficulty {layout.block_difficulty} "
                     f"(a block every ~{opts.block_time_s:g} s)")  # fmt: skip
        p = ports
        urls = {
            "pool stratum": layout.stratum_url,
            "pool metrics": f"http://127.0.0.1:{p.pool_metrics}/metrics",
            "pool web page": f"http://127.0.0.1:{p.pool_stats}/",
            "pool stats": f"http://127.0.0.1:{p.pool_stats}/api/v1/pool",
            "fleetd API": f"http://127.0.0.1:{p.fleetd_api}/sites",
            "fleetd metrics": f"http://127.0.0.1:{p.fleetd_metrics}/metrics",
            "rigsim metrics": f"http://127.0.0.1:{p.rigsim_metrics}/metrics",
            "grid feed": f"http://127.0.0.1:{p.grid}/allotment/{GRID_SITE}",
        }
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop.set)
        grid_server = GridServer(grid)
        await grid_server.start(p.grid)
        watch = ComplianceWatch(self.site_names)
        metrics: dict[str, dict[str, float]] = {}
        failure: DemoError | None = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            try:
                await self._start_children(layout, http)
                for name, url in urls.items():
                    self.say(f"{name:15} {url}")
                started = time.time()
                async with Observer(layout, grid, started) as observer:
                    last = await self._loop(observer, watch, urls, started)
                for part in ("pool", "fleetd", "rigsim"):
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        metrics[part] = await self._scrape(http, urls[f"{part} metrics"])
            except DemoError as exc:
                failure = exc
                last = None
            finally:
                await self.stop_children()
                await grid_server.stop()
        if failure is not None:
            raise failure
        assert last is not None
        ended = time.time()
        reports = self._reports(layout, start, ended)
        return self._summary(layout, last, watch, metrics, reports, ended - started)

    def _summary(self, layout: Layout, snap: Snapshot, watch: ComplianceWatch,
                 metrics: dict[str, dict[str, float]], reports: list[Path],
                 elapsed: float) -> int:  # fmt: skip
        rows: list[tuple[str, Any]] = [("ran for", f"{elapsed:.0f} s")]
        facts: dict[str, Any] = {"elapsed_s": round(elapsed, 1)}
        for s in snap.sites:
            r = watch.sites[s.name]
            kept = "[green]yes[/]" if r.compliant else f"[red]NO: {r.breach_s:.1f} s above[/]"
            resp = ", ".join(f"{x:.1f} s" for x in r.responses) or "—"
            rows += [
                (f"{s.name}: under its allotment", kept),
                (f"{s.name}: grid cuts answered", f"{r.drops} cut(s); back under in {resp} "
                 f"(allowance {watch.allowance_s:g} s; {r.response_s:.1f} s above while "
                 "answering)"),
                (f"{s.name}: energy", f"{r.energy_kwh:.2f} kWh of {r.allotted_kwh:.2f} kWh "
                 f"allotted ({r.energy_kwh / r.allotted_kwh:.1%})" if r.allotted_kwh else "—"),
            ]  # fmt: skip
            facts[f"{s.name}_breach_s"] = round(r.breach_s, 2)
            facts[f"{s.name}_max_over_kw"] = round(r.max_over_kw, 2)
            facts[f"{s.name}_response_s"] = round(r.response_s, 2)
            facts[f"{s.name}_worst_response_s"] = r.worst_response_s
            facts[f"{s.name}_grid_cuts"] = r.drops
            facts[f"{s.name}_samples"] = r.samples
            facts[f"{s.name}_energy_kwh"] = round(r.energy_kwh, 3)
            facts[f"{s.name}_allotted_kwh"] = round(r.allotted_kwh, 3)
        pool = snap.pool
        if pool is not None:
            rows += [
                ("pool shares", f"{pool.accepted} accepted, {pool.rejected_total} rejected"),
                (
                    "blocks",
                    f"{pool.blocks_found} found, {pool.blocks_accepted} taken by "
                    f"the node, {pool.blocks_confirmed} on the chain (height {pool.height})",
                ),
            ]
            facts.update(shares_accepted=pool.accepted, shares_rejected=pool.rejected_total,
                         blocks_found=pool.blocks_found, blocks_accepted=pool.blocks_accepted,
                         blocks_confirmed=pool.blocks_confirmed)  # fmt: skip
        pm = metrics.get("pool", {})
        facts["metrics_shares_accepted"] = pm.get("surplus_pool_shares_total{result=accepted}")
        facts["metrics_blocks_accepted"] = pm.get(
            "surplus_pool_blocks_submitted_total{result=accepted}"
        )
        facts["fleet_commands"] = snap.commands_total
        facts["reports"] = [str(p) for p in reports]
        facts["compliant"] = watch.compliant
        rows.append(("fleet commands", snap.commands_total))
        rows.append(("compliance report", ", ".join(str(p) for p in reports)))
        (layout.out / "summary.json").write_text(json.dumps(facts, indent=2) + "\n")
        rows.append(("summary", layout.out / "summary.json"))
        if self.opts.headless:
            for k, v in rows:
                print(f"demo: {k}: {printable(v)}", flush=True)
        else:
            self.console.rule("summary")
            self.console.print(dashboard.summary_table(rows))
        print("demo: " + " ".join(f"{k}={v}" for k, v in facts.items() if k != "reports"),
              flush=True)  # fmt: skip
        return 0


def find_configs(given: Path | None) -> Path:
    """The shipped configs folder: as given, ./configs, or the checkout's."""
    for candidate in (given, Path.cwd() / "configs", CHECKOUT_CONFIGS):
        if candidate is not None and (candidate / "fleet-demo.toml").is_file():
            return candidate.resolve()
    raise DemoError(
        f"no configs folder with fleet-demo.toml (looked in {given or ''} "
        f"./configs {CHECKOUT_CONFIGS}); run from the checkout or pass --configs"
    )


def run(opts: DemoOptions) -> int:
    console = Console()
    try:
        return asyncio.run(Demo(opts, console).run())
    except DemoError as exc:
        print(f"surplus demo: {redact(str(exc))}", file=sys.stderr)
        return 1
