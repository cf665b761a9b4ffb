"""The demo's screen shows what other programs said, and a miner chose some of it (the
worker that found a block): every such string is shown as text, never parsed as rich
markup (`[/x]` once raised MarkupError) nor passed to the terminal raw."""

from __future__ import annotations

import io

from rich.console import Console

from surplus.demo import dashboard
from surplus.demo.observe import PoolView, SiteView, Snapshot

HOSTILE = "[/x]evil\n2099-01-01 ERROR FORGED \x1b[31m[bold]"


def snapshots() -> tuple[Snapshot, Snapshot]:
    def pool(confirmed: int) -> PoolView:
        return PoolView(
            hashrate_hs=1e6, workers=2, connections=2, accepted=10, accepted_difficulty=1.0,
            rejected={HOSTILE: 1}, blocks_found=confirmed, blocks_accepted=confirmed,
            blocks_confirmed=confirmed, height=7,
            last_block={"height": 7, "hash": "[/x]" + "ab" * 30, "worker": HOSTILE},
        )  # fmt: skip

    def site(cut: float | None) -> SiteView:
        return SiteView(
            name=HOSTILE, cap_mw=1.0, bound_by=HOSTILE, meter_kw=900.0, firm_kw=0.0,
            hashrate_ths=100.0, rigs={"hashing": 3}, fleetd_allotment_mw=1.0,
            fleetd_site_kw=900.0, fleetd_budget_kw=950.0, fleetd_states={},
            above_cap_s=None, cut_since=cut,
        )  # fmt: skip

    command = {"ts": 0, "site": HOSTILE, "rig": HOSTILE, "command": HOSTILE, "ok": True,
               "signal": {"reason": HOSTILE}}  # fmt: skip
    before = Snapshot(t=0, elapsed_s=0, day_s=0, sites=[site(None)], pool=pool(0))
    now = Snapshot(t=1, elapsed_s=1, day_s=60, sites=[site(1.0)], pool=pool(1),
                   commands=[command], commands_total=1, errors={HOSTILE: HOSTILE})  # fmt: skip
    return before, now


def test_the_live_screen_shows_hostile_strings_as_text() -> None:
    before, now = snapshots()
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None, force_terminal=False)
    console.print(dashboard.render(now, duration=60, urls={HOSTILE: HOSTILE}))
    console.print(dashboard.summary_table([(HOSTILE, HOSTILE)]))
    for event in dashboard.events(before, now):
        console.print(event, markup=False)
    text = out.getvalue()
    assert "\x1b" not in text and "[/x]evil\\n2099-01-01" in text
    assert not any(line.lstrip("│┃ ").startswith("2099") for line in text.splitlines())


def test_headless_lines_and_events_are_one_line_each() -> None:
    before, now = snapshots()
    lines = dashboard.headless_lines(now) + dashboard.events(before, now)
    assert len(lines) == 5 and all("\n" not in line and "\x1b" not in line for line in lines)
    assert any("found by [/x]evil\\n2099" in line for line in lines)
