"""The operator's screen: a rich live dashboard, or plain log lines (--headless).

Both render a `Snapshot` and nothing else, so what the screen shows is exactly what the
programs' interfaces said. Every string in a snapshot came from another program (a
worker name a miner chose, a site name, a signal's reason, an error) and is shown
through `markup` or `plain`: escaped for rich and for the terminal, never parsed.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, JustifyMethod
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from plumbing.escape import printable
from surplus.demo.observe import SiteView, Snapshot

STATES = ("hashing", "ramping", "booting", "sleeping", "overheated", "failed")
BAR = 28


def markup(value: object, limit: int | None = 200) -> str:
    """An outside string to put inside rich markup: unprintables and tags escaped."""
    return escape(printable(value, limit))


def plain(value: object, limit: int | None = 200) -> Text:
    """An outside string as a rich cell: plain text, unprintables escaped."""
    return Text(printable(value, limit))


def clock(day_s: float) -> str:
    h, rest = divmod(int(day_s), 3600)
    return f"{h:02d}:{rest // 60:02d}"


def hashrate(hs: float) -> str:
    for unit, scale in (("GH/s", 1e9), ("MH/s", 1e6), ("kH/s", 1e3)):
        if hs >= scale:
            return f"{hs / scale:.2f} {unit}"
    return f"{hs:.0f} H/s"


def _power_bar(site: SiteView) -> Text:
    """Measured power as a share of the allotment; red past the cap."""
    cap_kw = site.cap_mw * 1e3
    if site.meter_kw is None or cap_kw <= 0:
        return Text("?" * BAR, style="dim")
    frac = site.meter_kw / cap_kw
    filled = min(BAR, round(frac * BAR))
    style = "red" if frac > 1.0 else ("yellow" if frac > 0.97 else "green")
    return Text("█" * filled, style=style) + Text("░" * (BAR - filled), style="dim") + \
        Text(f" {frac:6.1%}")  # fmt: skip


def _states(counts: dict[str, int]) -> str:
    return " ".join(f"{k} {counts[k]}" for k in STATES if counts.get(k))


def sites_table(snap: Snapshot) -> Table:
    t = Table(expand=True, title=None, pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("site", "left"), ("allotment", "right"), ("measured", "right"), ("headroom", "right"),
        ("power vs allotment", "left"), ("rigs (true state)", "left"), ("hashrate", "right"),
    )  # fmt: skip
    for col, just in columns:
        t.add_column(col, justify=just)
    for s in snap.sites:
        allot = f"{s.cap_mw:.3f} MW"
        if s.cut_since is not None:
            allot += " [bold red]CUT[/]"
        measured = "—" if s.meter_kw is None else f"{s.meter_kw / 1e3:.3f} MW"
        head = "—" if s.headroom_kw is None else f"{s.headroom_kw:+.0f} kW"
        ths = "—" if s.hashrate_ths is None else f"{s.hashrate_ths / 1e3:.2f} PH/s"
        t.add_row(f"[bold]{markup(s.name)}[/]\n[dim]{markup(s.bound_by)}[/]", allot, measured,
                  head, _power_bar(s), _states(s.rigs), ths)  # fmt: skip
    return t


def pool_text(snap: Snapshot, hashrate_scale: float = 0.0) -> Text:
    p = snap.pool
    if p is None:
        return Text(f"pool: not answering ({printable(snap.errors.get('pool', ''))})",
                    style="red")  # fmt: skip
    rej = ", ".join(f"{markup(k)} {markup(v)}" for k, v in p.rejected.items() if v) or "none"
    last = p.last_block or {}
    simulated = ""
    if hashrate_scale > 0:  # the rigs' simulated TH/s, as the pool measures them
        simulated = f" (= {p.hashrate_hs / hashrate_scale / 1e3:.2f} PH/s simulated)"
    return Text.from_markup(
        f"hashrate [bold]{hashrate(p.hashrate_hs)}[/] of real SHA-256d{simulated}   "
        f"workers {p.workers}   "
        f"connections {p.connections}\nshares accepted [bold]{p.accepted}[/]   rejected "
        f"{p.rejected_total} ({rej})\nblocks found [bold]{p.blocks_found}[/], on the chain "
        f"[bold green]{p.blocks_confirmed}[/]   height {p.height}   last block "
        f"{markup(str(last.get('hash', '—'))[:16])}"
    )


def commands_table(snap: Snapshot) -> Table:
    t = Table(expand=True, pad_edge=False, show_edge=False)
    for col in ("time", "site", "rig", "command", "ok", "signal"):
        t.add_column(
            col, no_wrap=True, overflow="ellipsis", max_width=44 if col == "signal" else None
        )
    for c in reversed(snap.commands):
        sig = c.get("signal") or {}
        ok = {True: "[green]ok[/]", False: "[red]failed[/]"}.get(c.get("ok"), "…")
        t.add_row(time.strftime("%H:%M:%S", time.localtime(c.get("ts", 0))),
                  plain(c.get("site", "")), plain(c.get("rig", "")), plain(c.get("command", "")),
                  ok, plain(sig.get("reason", ""), 48))  # fmt: skip
    return t


def render(snap: Snapshot, *, duration: float | None, urls: dict[str, str],
           hashrate_scale: float = 0.0) -> Group:  # fmt: skip
    head = (f"[bold]Surplus demo[/]  {snap.elapsed_s:5.0f} s"
            + (f" / {duration:.0f} s" if duration else "")
            + f"   allotment day {clock(snap.day_s)}   Ctrl-C stops")  # fmt: skip
    errors = "  ".join(f"[red]{markup(k)}: {markup(v)}[/]" for k, v in snap.errors.items())
    return Group(
        Text.from_markup(head),
        Panel(sites_table(snap), title="sites: the meters' truth against the allotment"),
        Panel(pool_text(snap, hashrate_scale), title="pool"),
        Panel(commands_table(snap),
              title=f"fleet commands ({snap.commands_total} so far, newest first)"),
        Text.from_markup("  ".join(f"[dim]{markup(k)}[/] {markup(v)}" for k, v in urls.items())),
        Text.from_markup(errors),
    )  # fmt: skip


def headless_lines(snap: Snapshot) -> list[str]:
    """One line per site and one for the pool (what CI logs read)."""
    out = []
    for s in snap.sites:
        meter = "?" if s.meter_kw is None else f"{s.meter_kw:.1f}"
        head = "?" if s.headroom_kw is None else f"{s.headroom_kw:+.1f}"
        ths = 0.0 if s.hashrate_ths is None else s.hashrate_ths
        cut = " grid-cut" if s.cut_since is not None else ""
        states = ",".join(f"{k}={s.rigs[k]}" for k in STATES if s.rigs.get(k))
        out.append(
            f"t={snap.elapsed_s:6.1f}s site={printable(s.name)} "
            f"allotment_kw={s.cap_mw * 1e3:.1f} meter_kw={meter} headroom_kw={head} "
            f"bound_by={printable(s.bound_by)}{cut} "
            f"hashrate_ths={ths:.0f} rigs:{states}"
        )
    p = snap.pool
    if p is not None:
        out.append(
            f"t={snap.elapsed_s:6.1f}s pool hashrate_hs={p.hashrate_hs:.0f} workers={p.workers} "
            f"accepted={p.accepted} rejected={p.rejected_total} blocks_found={p.blocks_found} "
            f"blocks_confirmed={p.blocks_confirmed} height={p.height} "
            f"fleet_commands={snap.commands_total}"
        )
    for part, why in snap.errors.items():
        out.append(f"t={snap.elapsed_s:6.1f}s {printable(part)} not answering: {printable(why)}")
    return out


def summary_table(rows: list[tuple[str, Any]]) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="dim")
    t.add_column()
    for k, v in rows:
        t.add_row(plain(k), plain(v, None))
    return t


def events(before: Snapshot | None, now: Snapshot) -> list[str]:
    """What changed between two snapshots that an operator should hear about at once
    (plain text with the outside strings escaped; print it with markup off)."""
    out: list[str] = []
    if before is None:
        return out
    was = {s.name: s for s in before.sites}
    for s in now.sites:
        prev = was.get(s.name)
        if prev is None:
            continue
        if s.cut_since is not None and prev.cut_since is None:
            out.append(f"grid operator: {printable(s.name)} cut to {s.cap_mw:.3f} MW without "
                       f"notice (was {prev.cap_mw:.3f} MW)")  # fmt: skip
        elif s.cut_since is None and prev.cut_since is not None:
            out.append(f"grid operator: {printable(s.name)} back to {s.cap_mw:.3f} MW")
    p, q = before.pool, now.pool
    if p is not None and q is not None and q.blocks_confirmed > p.blocks_confirmed:
        last = q.last_block or {}
        out.append(f"block at height {printable(last.get('height', q.height))} on the chain "
                   f"(found by {printable(last.get('worker', '?'))}; {q.blocks_confirmed} "
                   "so far)")  # fmt: skip
    return out
