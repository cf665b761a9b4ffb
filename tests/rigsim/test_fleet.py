"""The fleet in-process (no sockets): meters, events, faults, LuxOS replies, sessions, scale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from rigsim.clock import FakeClock
from rigsim.config import parse_fleet_config
from rigsim.fleet import HEALTHY, Fleet, RigEvent
from rigsim.physics import RigState
from rigsim.sessions import SessionBook

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def small_fleet(clock: FakeClock, **faults: object) -> Fleet:
    rigs = [
        {"model": "S19jPro", "count": 4, "site": "north", "addresses": "127.9.0.1"},
        {"model": "S21", "count": 2, "site": "south", "addresses": "127.9.1.1"},
    ]
    if faults:
        rigs[0]["faults"] = faults
    cfg = parse_fleet_config(
        {
            "fleet": {"session_timeout_s": 60},
            "sites": {
                "north": {"ambient_c": 20, "pue": 1.1},
                "south": {"ambient_c": 30, "pue": 1.4},
            },
            "models": {
                "S19jPro": {"boot_s": 10, "ramp_up_s": 10, "shed_s": 2},
                "S21": {"boot_s": 10, "ramp_up_s": 10, "shed_s": 2},
            },
            "rigs": rigs,
        }
    )
    return Fleet(cfg, clock=clock)


def test_site_meter_is_true_draw_times_pue_and_apart_from_reports() -> None:
    clock = FakeClock()
    fleet = small_fleet(clock, fraction=0.5, meter_factor=0.8)
    true = fleet.site_true_w()
    assert true["north"] == pytest.approx(4 * 3050.0)
    assert true["south"] == pytest.approx(2 * 3500.0)
    assert fleet.site_meter_w()["south"] == pytest.approx(2 * 3500.0 * 1.4)
    assert fleet.site_reported_w()["north"] == pytest.approx(2 * 3050.0 + 2 * 3050.0 * 0.8)
    assert len(fleet.faulty) == 2
    fleet.sleep([0, 1, 2, 3])
    clock.advance(5)
    fleet.advance()
    assert fleet.site_true_w()["north"] == pytest.approx(4 * 25.0)


def test_state_change_events_reach_sync_and_async_listeners() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        fleet = small_fleet(clock)
        rig = fleet.rigs[0]
        seen: list[RigEvent] = []
        async_seen: list[tuple[RigState, float]] = []

        async def on_change(ev: RigEvent) -> None:
            async_seen.append((ev.new, ev.rig.hashrate_ths))

        rig.subscribe(seen.append)
        unsubscribe = rig.subscribe(on_change)
        fleet.sleep(0)
        clock.advance(3)
        fleet.advance()
        fleet.wake(0)
        clock.advance(10)
        fleet.advance()
        clock.advance(11)
        fleet.advance()
        await asyncio.sleep(0)
        assert [(e.old, e.new) for e in seen] == [
            (RigState.HASHING, RigState.RAMPING),
            (RigState.RAMPING, RigState.SLEEPING),
            (RigState.SLEEPING, RigState.BOOTING),
            (RigState.BOOTING, RigState.RAMPING),
            (RigState.RAMPING, RigState.HASHING),
        ]
        assert async_seen[-1] == (RigState.HASHING, pytest.approx(104.0))
        assert rig.is_hashing
        unsubscribe()
        fleet.sleep(0)
        await asyncio.sleep(0)
        assert len(async_seen) == 5 and len(seen) == 6

    asyncio.run(scenario())


def test_faults_can_be_changed_at_run_time() -> None:
    clock = FakeClock()
    fleet = small_fleet(clock)
    fleet.update_faults(1, failed_boards=[3], meter_factor=1.2)
    r = fleet.reading(1)
    assert r.boards_ok == (True, True, False)
    assert fleet.rigs[1].reported_w == pytest.approx(fleet.rigs[1].true_w * 1.2)
    fleet.set_faults(1, HEALTHY)
    assert 1 not in fleet.faulty
    assert fleet.reading(1).ths == pytest.approx(104.0)


def test_in_process_api_replies_like_luxos() -> None:
    clock = FakeClock()
    fleet = small_fleet(clock)
    v = fleet.api_call(4, {"command": "version"})
    assert v["STATUS"][0]["STATUS"] == "S" and "LUXminer" in v["STATUS"][0]["Description"]
    assert v["VERSION"][0]["Type"] == "Antminer S21"
    stats = fleet.api_call(4, "stats")["STATS"][1]
    chains = sum(float(stats[f"chain_rate{n}"]) for n in (1, 2, 3))
    summary = fleet.api_call(4, "summary")["SUMMARY"][0]
    assert chains == pytest.approx(summary["GHS 5s"]) == pytest.approx(200_000.0, rel=1e-6)
    both = fleet.api_call(4, {"command": "power+config"})
    assert both["power"][0]["POWER"][0]["Watts"] == 3500
    assert both["config"][0]["CONFIG"][0]["Profile"] == "500MHz"
    bad = fleet.api_call(4, {"command": "frobnicate"})
    assert bad["STATUS"][0]["STATUS"] == "E" and bad["STATUS"][0]["Msg"] == "Invalid command"
    garbled = fleet.api_call(4, '{"command": ')
    assert garbled["STATUS"][0]["STATUS"] == "E"


def test_privileged_commands_need_the_live_session() -> None:
    clock = FakeClock()
    fleet = small_fleet(clock)
    denied = fleet.api_call(0, {"command": "curtail", "parameter": "nope,sleep"}, session_now=0)
    assert denied["STATUS"][0]["Msg"] == "Invalid session id"
    assert fleet.rigs[0].state == RigState.HASHING
    assert fleet.api_call(0, "session", session_now=0)["SESSION"][0]["SessionID"] == ""
    sid = fleet.api_call(0, "logon", session_now=0)["SESSION"][0]["SessionID"]
    assert fleet.api_call(0, "logon", session_now=1)["STATUS"][0]["STATUS"] == "E"
    ok = fleet.api_call(0, {"command": "curtail", "parameter": f"{sid},sleep"}, session_now=30)
    assert ok["STATUS"][0]["STATUS"] == "S"
    clock.advance(3)
    assert fleet.reading(0).state == RigState.SLEEPING
    # idle for more than 60 s after its last use: the session is gone
    late = fleet.api_call(
        0, {"command": "curtail", "parameter": f"{sid},wakeup"}, session_now=30 + 61
    )
    assert late["STATUS"][0]["Msg"] == "Invalid session id"
    sid2 = fleet.api_call(0, "logon", session_now=92)["SESSION"][0]["SessionID"]
    ps = fleet.api_call(0, {"command": "profileset", "parameter": f"{sid2},300MHz"}, session_now=93)
    assert ps["PROFILE"][0]["Profile"] == "300MHz"
    unknown = fleet.api_call(
        0, {"command": "profileset", "parameter": f"{sid2},1MHz"}, session_now=93
    )
    assert unknown["STATUS"][0]["STATUS"] == "E"


def test_session_book_expiry_and_logoff() -> None:
    book = SessionBook(timeout_s=60, token=iter(["a", "b", "c"]).__next__)
    assert book.logon(7, 0.0) == "a"
    assert book.use(7, "a", 59.0)
    assert book.current(7, 118.0) == "a"  # `session` does not count as use
    assert not book.use(7, "a", 120.0)
    assert book.current(7, 120.0) == ""
    assert book.logon(7, 121.0) == "b"
    assert book.logoff(7, "b", 122.0)
    assert book.current(7, 122.0) == ""


def test_hundred_thousand_rigs_in_process() -> None:
    clock = FakeClock()
    models = ["S19", "S19jPro", "S19XP", "S21", "S21XP", "M50", "M60"]
    rigs = [
        {
            "model": m,
            "count": 15_000,
            "site": "north" if k % 2 else "south",
            "addresses": f"127.{10 + k}.0.1",
        }
        for k, m in enumerate(models)
    ]
    cfg = parse_fleet_config({"sites": {"north": {}, "south": {"ambient_c": 35}}, "rigs": rigs})
    fleet = Fleet(cfg, clock=clock)  # build and tick times: benchmarks/rigsim.py
    assert len(fleet) == 105_000
    full = sum(fleet.site_true_w().values())
    fleet.sleep(np.arange(0, len(fleet), 2))
    clock.advance(10)
    fleet.advance()
    assert sum(fleet.site_true_w().values()) < 0.6 * full
    assert fleet.state_counts()["sleeping"] == 52_500
    reply = fleet.api_call(99_999, "power")
    assert reply["POWER"][0]["Watts"] == round(fleet.rigs[99_999].reported_w)


def test_cli_runs_a_fleet_for_a_bounded_time(capsys: pytest.CaptureFixture[str]) -> None:
    from rigsim import cli

    small = str(CONFIGS / "fleet-small.toml")
    args = ["--fleet", small, "--no-api", "--duration", "0.3", "--status-every", "0.1"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "rigsim: 9 rigs (no sockets)" in out
    assert "test:" in out and "hot:" in out and "hashing=8" in out
    assert cli.main(["--fleet", str(CONFIGS / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
