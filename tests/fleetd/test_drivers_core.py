"""Driver pieces without a network: targets, capabilities, the families' reply parsing."""

from __future__ import annotations

import pytest

from fleetd.drivers import (
    DriverError,
    DriverTimeouts,
    FirmwareKind,
    Profile,
    PyasicDriver,
    Target,
    capabilities,
    parse_profiles,
    parse_telemetry,
    pick_profile,
    replies,
)
from fleetd.drivers.luxos import LuxosReplyError
from fleetd.models import Firmware
from fleetd.planner import RigState


def test_targets_validate_and_print_for_the_audit() -> None:
    assert str(Target.sleep()) == "sleep"
    assert str(Target.wake()) == "wake"
    assert str(Target.wake(profile="350MHz")) == "wake:350MHz"
    assert str(Target.limit_watts(2500.0)) == "watts:2500W"
    assert str(Target.use_profile("low")) == "profile:low"
    with pytest.raises(DriverError, match="finite number > 0"):
        Target.limit_watts(-5)
    with pytest.raises(DriverError, match="profile or watts, not both"):
        Target.wake(profile="x", watts=100)


def test_driver_timeouts_keep_the_token_inside_the_firmware_session() -> None:
    t = DriverTimeouts()
    assert t.session_ttl_s < t.session_expiry_s == 60.0 and t.seen_max_age_s == 30.0
    with pytest.raises(DriverError, match="must not exceed session_expiry_s"):
        DriverTimeouts(session_ttl_s=45.0, session_expiry_s=30.0)
    with pytest.raises(DriverError, match="session_expiry_s must be > 0"):
        DriverTimeouts(session_ttl_s=1.0, session_expiry_s=0.0)
    with pytest.raises(DriverError, match="seen_max_age_s must be >= 0"):
        DriverTimeouts(seen_max_age_s=-1.0)


def test_capabilities_per_firmware_and_target_checks() -> None:
    assert capabilities("luxos").control == Firmware.PROFILES
    assert capabilities("braiins").control == Firmware.CONTINUOUS
    assert capabilities("stock").modes == ("low", "normal")
    assert capabilities(FirmwareKind.WHATSMINER).watt_limit
    with pytest.raises(ValueError, match="unknown firmware 'vnish'; expected one of luxos"):
        capabilities("vnish")
    stock = PyasicDriver("127.0.0.1", "stock")
    stock.check(Target.use_profile("low"))
    stock.check(Target.wake(profile="normal"))
    with pytest.raises(DriverError, match="stock firmware takes no watt limit"):
        stock.check(Target.limit_watts(2000))
    with pytest.raises(DriverError, match="no profile '400MHz'; modes: low, normal"):
        stock.check(Target.use_profile("400MHz"))
    braiins = PyasicDriver("127.0.0.1", "braiins")
    braiins.check(Target.wake(watts=2100))
    with pytest.raises(DriverError, match="braiins firmware has no profile"):
        braiins.check(Target.use_profile("400MHz"))
    with pytest.raises(DriverError, match="not identified yet"):
        _ = PyasicDriver("127.0.0.1", None).capabilities


def ok(section: dict) -> list[dict]:
    return [{"STATUS": [{"STATUS": "S"}], **section}]


def test_parse_telemetry_and_profiles() -> None:
    reply = {
        "power": ok({"POWER": [{"Watts": 1531}]}),
        "stats": ok({"STATS": [{"Type": "Antminer S19j Pro"},
                               {"chain_rate1": "23000.00", "chain_rate2": "23000.00",
                                "chain_rate3": "0.00", "temp_chip1": "60-62-64-66",
                                "temp_chip2": "0-70-0-0", "Elapsed": 12}]}),
        "config": ok({"CONFIG": [{"Profile": "350MHz", "CurtailMode": "None",
                                  "IsAtmEnabled": False}]}),
        "fans": ok({"FANS": [{"RPM": 3000}, {"RPM": 3100}]}),
        "profiles": ok({"PROFILES": [{"Profile Name": "525MHz", "Watts": 3050, "Hashrate": 104},
                                     {"Profile Name": "350MHz", "Watts": 1531}]}),
    }  # fmt: skip
    t = parse_telemetry(reply)
    assert t.hashrate_ths == pytest.approx(46.0) and t.watts == 1531 and t.profile == "350MHz"
    assert t.state == RigState.HASHING and t.temps_c == (63.0, 70.0) and t.fans_rpm == (3000, 3100)
    assert t.model == "Antminer S19j Pro" and t.uptime_s == 12 and t.atm_enabled is False
    ladder = parse_profiles(reply)
    assert [p.name for p in ladder] == ["350MHz", "525MHz"] and ladder[0].ths is None
    assert pick_profile(ladder, 3049) == Profile("350MHz", 1531.0, None)
    assert pick_profile(ladder, 3050) is not None and pick_profile(ladder, 3050).name == "525MHz"  # type: ignore[union-attr]
    assert pick_profile(ladder, 1000) is None
    # summary as a fallback for the hashrate; curtailed means asleep whatever the rate says
    sleepy = {"power": ok({"POWER": [{"Watts": 25}]}),
              "summary": ok({"SUMMARY": [{"GHS 5s": 0.0}]}),
              "config": ok({"CONFIG": [{"CurtailMode": "Sleep"}]})}  # fmt: skip
    s = parse_telemetry(sleepy)
    assert s.state == RigState.SLEEPING and s.hashrate_ths == 0.0 and s.status == "Sleeping"
    assert s.atm_enabled is None  # not given: the driver will ask before a profile change
    booting = {**sleepy, "config": ok({"CONFIG": [{"Profile": "x"}]})}
    assert parse_telemetry(booting).state == RigState.BOOTING
    with pytest.raises(LuxosReplyError, match="no usable 'power'"):
        parse_telemetry({})
    with pytest.raises(LuxosReplyError, match="no usable 'power'"):
        parse_telemetry({"power": [{"STATUS": [{"STATUS": "E", "Msg": "busy"}]}]})
    with pytest.raises(LuxosReplyError, match="neither stats chain rates nor summary"):
        parse_telemetry({"power": ok({"POWER": [{"Watts": 25}]})})
    with pytest.raises(LuxosReplyError, match="no PROFILES"):
        parse_profiles({"profiles": ok({})})


def test_family_replies_are_read_and_bad_ones_refused() -> None:
    ok = [{"STATUS": "S"}]
    bos = replies.bosminer({
        "summary": [{"STATUS": ok, "SUMMARY": [{"MHS 1m": 104e6, "Elapsed": 99}]}],
        "tunerstatus": [{"STATUS": ok, "TUNERSTATUS": [{
            "ApproximateMinerPowerConsumption": 3010, "PowerLimit": 3050,
            "TunerRunning": True}]}],
        "temps": [{"STATUS": ok, "TEMPS": [{"Chip": 70.5}, {"Chip": "hot"}, {"Chip": 1e9}]}],
        "fans": [{"STATUS": ok, "FANS": [{"RPM": 4000}, {"RPM": -5}]}],
    })  # fmt: skip
    assert (bos.ths, bos.watts, bos.limit_w, bos.running) == (104.0, 3010, 3050, True)
    assert bos.temps_c == (70.5,) and bos.fans_rpm == (4000,) and bos.uptime_s == 99
    with pytest.raises(replies.ReplyError, match="no MHS 1m"):
        replies.bosminer({"summary": [{"STATUS": [{"STATUS": "E"}], "SUMMARY": []}]})
    stock = replies.bmminer({
        "summary": [{"STATUS": ok, "SUMMARY": [{"GHS 5s": 104000.0}]}],
        "stats": [{"STATUS": ok, "STATS": [{"Type": "Antminer S19j Pro"},
                                           {"temp_chip1": "66-68-70-72", "fan1": 5000}]}],
    })  # fmt: skip
    assert stock.ths == 104.0 and stock.watts is None and stock.temps_c == (69.0,)
    assert stock.model == "Antminer S19j Pro" and stock.fans_rpm == (5000,)
    v2 = replies.btminer_v2({
        "summary": [{"STATUS": ok, "SUMMARY": [{"MHS 1m": 114e6, "Power": 2640,
                                                "Power Limit": 3300}]}],
        "status": [{"STATUS": "S", "Msg": {"mineroff": "false", "power_pct": "80"}}],
    })  # fmt: skip
    assert (v2.ths, v2.watts, v2.limit_w, v2.pct, v2.running) == (114.0, 2640, 3300, 80, True)
    v3 = replies.btminer_v3(
        {"code": 0, "msg": {"summary": {"hash-1min": 0.0, "power-realtime": 25,
                                        "power-limit": 3400}}},
        {"code": 0, "msg": {"power-percent": 150}},  # out of range: unknown
        {"code": 0, "msg": {"miner": {"working": "false"}}},
    )  # fmt: skip
    assert (v3.ths, v3.watts, v3.pct, v3.running) == (0.0, 25, None, False)
    with pytest.raises(replies.ReplyError, match="no summary"):
        replies.btminer_v3({"code": -4, "msg": "no permission"}, {}, {})
