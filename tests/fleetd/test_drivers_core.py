"""Driver pieces without a network: targets, capabilities, LuxOS reply parsing, MinerData."""

from __future__ import annotations

import pytest
from pyasic.data import Fan, HashBoard, MinerData
from pyasic.device.algorithm.hashrate.unit.sha256 import SHA256Unit

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
    reading_from_miner_data,
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


def test_reading_from_pyasic_miner_data() -> None:
    th = SHA256Unit.TH
    data = MinerData(
        ip="127.0.0.1", wattage=2100, raw_wattage_limit=2200, is_mining=True,
        hashboards=[HashBoard(slot=i, hashrate=None, chip_temp=60 + i, temp=50)
                    for i in range(3)],
        fans=[Fan(speed=4000), Fan(speed=None)], uptime=99,
    )  # fmt: skip
    from pyasic.device.algorithm.hashrate.sha256 import SHA256HashRate

    data.raw_hashrate = SHA256HashRate(rate=80.0, unit=th)
    r = reading_from_miner_data("127.0.0.1", data, 5.0)
    assert r.ok and r.state == RigState.HASHING and r.watts == 2100 and r.power_limit_w == 2200
    assert r.hashrate_ths == pytest.approx(80.0) and r.temps_c == (60.0, 61.0, 62.0)
    assert r.fans_rpm == (4000,) and r.uptime_s == 99 and r.read_at == 5.0
    asleep = reading_from_miner_data("127.0.0.1", MinerData(ip="127.0.0.1", wattage=30,
                                                            is_mining=False), 5.0)  # fmt: skip
    assert asleep.state == RigState.SLEEPING
    empty = reading_from_miner_data("127.0.0.1", MinerData(ip="127.0.0.1"), 5.0)
    assert not empty.ok and empty.state == RigState.UNREACHABLE
