"""`surplus demo --sites N`: the control room on this machine. N sites of emulated rigs
(`surplus rigsim`), one `surplus fleetd` per site, one coordinator (`surplus control`)
splitting a portfolio allotment among them by merit order, and a grid operator's
OpenADR 2.0b VTN (openleadr, `surplus.demo.vtn`) that sends an immediate event and a
scheduled one. No pool: the sites' rigs do not mine here (the single-site demo shows
that part).

Timeline, as fractions of --duration (default 90 s) after the sites settle:
    0.15  an immediate SIMPLE level-1 event (the portfolio x 0.7) for 0.25 of the run
    0.45  a scheduled LOAD_DISPATCH setpoint (half the portfolio), announced now, from
          0.60 to 0.85 of the run: fleetd pre-sheds for it

Rigsim's meters are the witness: every half second each site's meter is set against the
figure the coordinator gives it, and the whole against the portfolio in force. The
summary adds the coordinator's own figures (each site's allotment and J/TH, and its
regulator's report over the run: energy, time and energy above, commands), writes them
to summary.json, and ends with one machine-readable line:

    demo-control: sites=3 seconds=... portfolio_mw=... above_site_s=... above_kwh=...
                  portfolio_above_s=... events_opted_in=2 commands=... report_kwh=...
                  report_above_s=... report_above_kwh=...
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surplus.demo.control_room import OPS_TOKEN, ControlProcesses, Site, free_port
from surplus.demo.procs import DemoError
from surplus.demo.vtn import Script

MODELS = ("S21XP", "S19", "M60", "S19XP", "S21", "M50", "S19jPro")
RIGS_PER_SITE = 8
SAMPLE_S = 0.5


@dataclass
class Tally:
    """Meter against figure, per sample (rigsim's clock and meters; the coordinator's
    figures as it reports them)."""

    samples: int = 0
    site_above_s: float = 0.0  # site-seconds above the site's figure
    above_j: float = 0.0
    portfolio_above_s: float = 0.0  # seconds the sum was above the portfolio in force
    worst_w: float = 0.0
    per_site_kwh: dict[str, float] = field(default_factory=dict)


def sites_for(n: int) -> tuple[Site, ...]:
    return tuple(
        Site(f"site{k + 1}", MODELS[k % len(MODELS)], RIGS_PER_SITE, licence_mw=0.0)
        for k in range(n)
    )


async def _run(n: int, duration_s: float, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    vtn = Script(free_port(), out, out / "vtn.log")
    draft = sites_for(n)
    probe = ControlProcesses(draft, out, {})
    full = {s.name: probe.full_draw_w(s.name) for s in draft}
    sites = tuple(
        Site(
            s.name,
            s.model,
            s.count,
            licence_mw=round(1.1 * full[s.name] / 1e6, 6),
            floor_mw=round(0.2 * full[s.name] / 1e6, 6),
        )
        for s in draft
    )
    portfolio = round(0.9 * sum(full.values()) / 1e6, 6)
    openadr = {
        "openadr": {
            "vtn_url": vtn.url,
            "report_every_s": 5.0,
            "retry_s": 1.0,
        }
    }
    tally = Tally()
    async with vtn, ControlProcesses(
        sites, out, {"policy": "merit", "portfolio_mw": portfolio}, openadr
    ) as room:
        print(
            f"demo: {n} sites, {n * RIGS_PER_SITE} rigs, portfolio {portfolio * 1e3:.1f} kW "
            f"(merit order), coordinator {room.control_url}",
            flush=True,
        )
        t_ready = time.time()
        await room.start_control()
        print(f"demo: the operator's console  {room.control_url}/", flush=True)
        await room.start_fleetds()
        deadline = time.monotonic() + 60
        while not await room.feeds_agree():
            if time.monotonic() > deadline:
                raise DemoError("the sites did not take the coordinator's figures in 60 s")
            await asyncio.sleep(0.2)
        t0 = time.time()
        plan = [  # (when, as a part of the run: the event, starting then or at its start_at)
            (0.15, ("now", "SIMPLE", "level", 1, None)),
            (0.45, ("later", "LOAD_DISPATCH", "setpoint", 0.5 * portfolio * 1e3,
                    t0 + 0.6 * duration_s)),
        ]  # fmt: skip
        last_line = 0.0
        while (now := time.time()) < t0 + duration_s:
            room.check_alive()
            while plan and now >= t0 + plan[0][0] * duration_s:
                _, (event_id, signal, kind, payload, start_at) = plan.pop(0)
                vtn.event(event_id, signal, kind, payload, duration_s=0.25 * duration_s,
                          start_at=start_at)  # fmt: skip
                print(f"demo: the VTN sends {signal} event {event_id!r}", flush=True)
            status = await room.status()
            _sample(tally, room, status)
            if now - last_line >= 5.0:
                last_line = now
                figs = " ".join(_figure(room, x) for x in status["sites"])
                print(
                    f"demo: t={now - t0:5.1f}s portfolio "
                    f"{status['portfolio_now_mw'] * 1e3:.1f} kW  allotment/meter {figs}",
                    flush=True,
                )
            await asyncio.sleep(SAMPLE_S)
        status = await room.status()
        # the coordinator's own figures: its regulator's report over the run
        code, text = await room.get_text(
            f"{room.control_url}/report?from={t_ready!r}&to={time.time()!r}",
            token=OPS_TOKEN,
        )
        if code != 200:
            raise DemoError(f"the coordinator's report: HTTP {code}: {text[:200]}")
        report = json.loads(text)
    audit = [json.loads(x) for x in (out / "control-audit.jsonl").read_text().splitlines()]
    opted = {r["event_id"]: r["opt"] for r in audit if r["kind"] == "openadr"}
    return {
        "sites": n,
        "seconds": duration_s,
        "portfolio_mw": portfolio,
        "tally": tally,
        "commands": sum(1 for r in audit if r["kind"] == "command"),
        "events_opted_in": sum(1 for v in opted.values() if v == "optIn"),
        "reports_at_vtn": len(vtn.reports()),
        "status": status,
        "report": report,
    }


def _figure(room: ControlProcesses, x: dict[str, Any]) -> str:
    """name=allotment/meter in kW."""
    last = room.witness.last(x["name"])
    meter_kw = last[0] / 1e3 if last else 0.0
    return f"{x['name']}={(x['allotment_mw'] or 0) * 1e3:.1f}/{meter_kw:.1f}kW"


def _sample(tally: Tally, room: ControlProcesses, status: dict[str, Any]) -> None:
    tally.samples += 1
    total_w = 0.0
    for x in status["sites"]:
        last = room.witness.last(x["name"])
        if not last or x["allotment_mw"] is None:
            continue
        w = last[0]
        total_w += w
        cap = x["allotment_mw"] * 1e6
        tally.per_site_kwh[x["name"]] = (
            tally.per_site_kwh.get(x["name"], 0.0) + w * SAMPLE_S / 3.6e6
        )
        if w > cap:
            tally.site_above_s += SAMPLE_S
            tally.above_j += (w - cap) * SAMPLE_S
            tally.worst_w = max(tally.worst_w, w - cap)
    if total_w > status["portfolio_now_mw"] * 1e6:
        tally.portfolio_above_s += SAMPLE_S


def run(sites: int, duration_s: float, out: Path) -> int:
    try:
        result = asyncio.run(_run(sites, duration_s, out))
    except DemoError as exc:
        print(f"surplus demo: {exc}", file=sys.stderr)
        return 1
    t: Tally = result["tally"]
    print(
        f"demo: {result['events_opted_in']} OpenADR events opted into, "
        f"{result['commands']} allotment changes sent, {result['reports_at_vtn']} telemetry "
        f"values at the VTN"
    )
    for name, kwh in sorted(t.per_site_kwh.items()):
        print(f"demo: {name}: {kwh * 1e3:.1f} Wh drawn")
    print(
        f"demo: above a site's figure {t.site_above_s:.1f} site-seconds "
        f"({t.above_j / 3.6e3:.2f} Wh, worst {t.worst_w:.0f} W); the sum above the "
        f"portfolio {t.portfolio_above_s:.1f} s (sampled every {SAMPLE_S:g} s)"
    )
    rep = result["report"]
    for x in result["status"]["sites"]:
        r = rep["sites"][x["name"]]["totals"]
        jth = "–" if x["jth"] is None else f"{x['jth']:.1f} ({x['jth_source']})"
        print(
            f"demo: coordinator: {x['name']}: allotment {(x['allotment_mw'] or 0) * 1e3:.1f} kW, "
            f"J/TH {jth}; report {r['energy_kwh'] * 1e3:.1f} Wh, above {r['above_s']:.1f} s "
            f"({r['above_kwh'] * 1e3:.2f} Wh), {r['control_commands']} allotment changes, "
            f"{r['site_commands']} rig commands"
        )
    total = rep["totals"]
    print(
        f"demo: coordinator: report total {total['energy_kwh'] * 1e3:.1f} Wh, above "
        f"{total['above_s']:.1f} site-seconds ({total['above_kwh'] * 1e3:.2f} Wh), "
        f"{total['control_commands']} allotment changes, {total['site_commands']} rig commands"
    )
    summary = {
        "sites": result["sites"],
        "seconds": result["seconds"],
        "portfolio_mw": result["portfolio_mw"],
        "witness": {
            "above_site_s": t.site_above_s,
            "above_kwh": t.above_j / 3.6e6,
            "portfolio_above_s": t.portfolio_above_s,
            "per_site_kwh": t.per_site_kwh,
        },
        "events_opted_in": result["events_opted_in"],
        "commands": result["commands"],
        "coordinator": {"status": result["status"], "report_totals": total,
                        "report_sites": {n: v["totals"] for n, v in rep["sites"].items()}},
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"demo-control: sites={result['sites']} seconds={result['seconds']:g} "
        f"portfolio_mw={result['portfolio_mw']:g} above_site_s={t.site_above_s:.1f} "
        f"above_kwh={t.above_j / 3.6e6:.6f} portfolio_above_s={t.portfolio_above_s:.1f} "
        f"events_opted_in={result['events_opted_in']} commands={result['commands']} "
        f"report_kwh={total['energy_kwh']:.6f} report_above_s={total['above_s']:.1f} "
        f"report_above_kwh={total['above_kwh']:.6f}",
        flush=True,
    )
    return 0
