"""The firmware families' pure cores without sockets: the clock a watt target needs, the
physics of retargets and mining-process restarts, fleet-file checks, Whatsminer's token
and encryption against pyasic's own functions, digest auth against httpx's client side,
and the Braiins and Antminer configuration rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest
from grpclib import GRPCError, Status
from pyasic.rpc.btminer import (
    TokenData,
    _crypt,
    create_privileged_cmd,
    parse_btminer_priviledge_data,
)
from pyasic.web.braiins_os.proto.braiins.bos import v1 as bos

from rigsim.btminer import rig_salt
from rigsim.btminer_v3 import v3_token
from rigsim.clock import FakeClock
from rigsim.config import ConfigError, parse_fleet_config
from rigsim.digest import DigestAuth, Verdict, parse_header
from rigsim.fleet import Fleet
from rigsim.models import MODELS
from rigsim.physics import FleetPhysics, PhysicsGroup, RigState
from rigsim.rig import MODE_LOW, MODE_NORMAL

S19J = MODELS["S19jPro"]


def fleet_of(*groups: dict[str, Any], clock: FakeClock | None = None, **extra: Any) -> Fleet:
    rigs = []
    first = 1
    for g in groups:
        rigs.append({"site": "s", "addresses": f"127.9.0.{first}", **g})
        first += g["count"]
    cfg = parse_fleet_config({"sites": {"s": {}}, "rigs": rigs, **extra})
    return Fleet(cfg, clock=clock or FakeClock())


# ---------------------------------------------------------------- models and physics


@pytest.mark.parametrize("key", list(MODELS))
def test_clock_for_watts_inverts_the_power_curve_and_clamps(key: str) -> None:
    m = MODELS[key]
    lo, hi = m.watt_range()
    for watts in np.linspace(lo, hi, 7):
        assert m.watts_at(m.clock_for_watts(watts)) == pytest.approx(watts, abs=0.01)
    assert m.clock_for_watts(0) == m.clock_range[0]
    assert m.clock_for_watts(1e6) == m.clock_range[1]
    assert m.clock_for_watts(m.nameplate_w) == pytest.approx(1.0)


def test_set_clock_ramps_at_the_firmwares_pace_and_waits_for_a_sleeping_rig() -> None:
    ph = FleetPhysics(
        [PhysicsGroup(S19J, 1), PhysicsGroup(S19J, 1, start=RigState.SLEEPING)], now=0.0
    )
    x = S19J.clock_for_watts(2000)
    ph.set_clock([0, 1], x, 0.0, up_s=40.0, down_s=20.0)
    ph.advance(10.0)
    assert ph.state[0] == RigState.RAMPING and 2000 < ph.true_w[0] < 3050
    ph.advance(20.01)
    assert ph.state[0] == RigState.HASHING and ph.true_w[0] == pytest.approx(2000)
    ph.set_clock(0, 1.0, 30.01, up_s=40.0, down_s=20.0)
    ph.advance(30.01 + 39.0)
    assert ph.true_w[0] < 3050  # up is slower than down
    assert ph.state[1] == RigState.SLEEPING  # a sleeping rig keeps the clock for later
    ph.wake(1, 100.0)
    ph.advance(100.0 + S19J.boot_s + S19J.ramp_up_s + 0.01)
    assert ph.true_w[1] == pytest.approx(2000)


def test_restart_process_stops_hashing_and_marks_the_api_down() -> None:
    ph = FleetPhysics([PhysicsGroup(S19J, 2)], now=0.0)
    ph.restart_process(0, 100.0)
    r = ph.reading(0, 100.0)
    assert r.state == RigState.BOOTING and r.true_w == pytest.approx(S19J.base_w)
    assert r.process_down_until == 100.0 + S19J.restart_api_s and r.process_uptime_s == 0
    ph.advance(100.0 + S19J.restart_s + S19J.ramp_up_s + 0.01)
    assert ph.state[0] == RigState.HASHING and ph.true_w[0] == pytest.approx(3050)
    ph.restart_process(1, 100.0, hashing=False)
    ph.advance(100.0 + S19J.shed_s + 0.01)
    assert ph.state[1] == RigState.SLEEPING
    ph.stop_process(0, 500.0)
    assert ph.process_down_until[0] == np.inf
    ph.reboot(0, 600.0)
    assert ph.process_down_until[0] == -np.inf  # the process starts with the board


# ---------------------------------------------------------------- fleet file


@pytest.mark.parametrize(
    ("group", "key", "words"),
    [
        ({"model": "M50", "firmware": "braiins"}, "firmware", "does not run 'braiins'"),
        ({"model": "S21XP", "firmware": "braiins"}, "firmware", "expected one of luxos"),
        ({"model": "S19", "firmware": "whatsminer"}, "firmware", "antminer"),
        ({"model": "S19", "firmware": "antminer", "profile": "600MHz"}, "profile", "LuxOS"),
        ({"model": "S19", "firmware": "antminer", "whatsminer_api": "v3"}, "whatsminer_api",
         "only Whatsminer"),
        ({"model": "S19", "firmware": "bitmain"}, "firmware", "'luxos'"),
    ],
)  # fmt: skip
def test_firmware_keys_are_checked(group: dict[str, Any], key: str, words: str) -> None:
    rigs = [{"count": 1, "site": "s", "addresses": "127.9.0.1", **group}]
    with pytest.raises(ConfigError) as exc:
        parse_fleet_config({"sites": {"s": {}}, "rigs": rigs}, "f.toml")
    assert f"rigs[0].{key}" in str(exc.value) and words in str(exc.value)


def test_two_apis_on_one_port_are_refused() -> None:
    rigs = [{"model": "S19", "count": 1, "site": "s", "addresses": "127.9.0.1"}]
    with pytest.raises(ConfigError, match=r"firmware\.braiins\.grpc_port: port 4028 is also"):
        parse_fleet_config(
            {"sites": {"s": {}}, "rigs": rigs, "firmware": {"braiins": {"grpc_port": 4028}}}
        )


def test_rigs_that_start_asleep_start_in_their_firmwares_sleep() -> None:
    fleet = fleet_of(
        {"model": "S19", "count": 1, "firmware": "braiins", "start": "sleeping"},
        {"model": "S19", "count": 1, "firmware": "antminer", "start": "sleeping"},
    )
    assert fleet.firmware(0).paused and fleet.firmware(1).work_mode == 1
    conf = fleet.apis.antminer_web.handle(1, "get_miner_conf", None)
    assert conf is not None and conf["bitmain-work-mode"] == "1"


# ---------------------------------------------------------------- Whatsminer API v2


def pyasic_token(fleet: Fleet, i: int, password: str) -> TokenData:
    """What pyasic's BTMinerRPCAPI.get_token makes of the rig's get_token reply."""
    msg = fleet.api_call(i, {"command": "get_token"})["Msg"]
    key = _crypt(password, "$1$" + msg["salt"] + "$").split("$")[3]
    sign = _crypt(key + msg["time"], "$1$" + msg["newsalt"] + "$").split("$")[3]
    return TokenData(host_sign=sign, host_passwd_md5=key)


def encrypted(token: TokenData, command: dict[str, Any]) -> dict[str, Any]:
    return json.loads(create_privileged_cmd(token, command))


def test_whatsminer_writes_are_encrypted_as_pyasic_encrypts_them() -> None:
    clock = FakeClock()
    fleet = fleet_of({"model": "M50", "count": 1, "firmware": "whatsminer"}, clock=clock)
    token = pyasic_token(fleet, 0, "admin")
    reply = fleet.api_call(0, encrypted(token, {"cmd": "power_off", "respbefore": "true"}))
    assert set(reply) == {"enc"}  # the answer is encrypted too
    assert parse_btminer_priviledge_data(token, reply)["Msg"] == "API command OK"
    clock.advance(10)
    fleet.advance()
    assert fleet.rigs[0].state == RigState.SLEEPING
    plain = fleet.api_call(0, {"command": "power_on"})  # writes must be encrypted
    assert plain["Code"] == 45 and plain["STATUS"] == "E"
    wrong = pyasic_token(fleet, 0, "wrong")
    refusal = fleet.api_call(0, encrypted(wrong, {"cmd": "power_on"}))
    assert refusal["Code"] == 135 and refusal["Msg"] == "check token err"
    forged = TokenData(host_sign="forged", host_passwd_md5=token.host_passwd_md5)
    assert fleet.api_call(0, encrypted(forged, {"cmd": "power_on"}))["Code"] == 135
    garbage = fleet.api_call(0, {"enc": 1, "data": "not base64 !!"})
    assert garbage["Code"] == 135 and fleet.rigs[0].state == RigState.SLEEPING


def test_whatsminer_hands_out_a_bounded_number_of_tokens() -> None:
    fleet = fleet_of(
        {"model": "M50", "count": 1, "firmware": "whatsminer"},
        firmware={"whatsminer": {"max_tokens": 3}},
    )
    codes = [fleet.api_call(0, {"command": "get_token"})["Code"] for _ in range(4)]
    assert codes == [134, 134, 134, 136]
    for t in fleet.firmware(0).tokens:  # half an hour later they have expired
        fleet.firmware(0).tokens[t] = 0.0
    assert fleet.api_call(0, {"command": "get_token"})["Code"] == 134


def test_whatsminer_reads_are_plain_and_multicommands_work() -> None:
    fleet = fleet_of({"model": "M60", "count": 1, "firmware": "whatsminer"})
    both = fleet.api_call(0, {"command": "summary+devs"})
    assert both["summary"][0]["SUMMARY"][0]["MHS 1m"] == pytest.approx(172e6)
    assert len(both["devs"][0]["DEVS"]) == 3
    details = fleet.api_call(0, {"cmd": "devdetails"})
    assert details["DEVDETAILS"][0]["Model"] == "M60_VK10"
    assert fleet.api_call(0, {"command": "get_version"})["Msg"]["fw_ver"].startswith("2023")


# ---------------------------------------------------------------- digest auth


def signed(auth: httpx.DigestAuth, server: DigestAuth, uri: str, now: float) -> str:
    """The Authorization header httpx answers `server`'s challenge with."""
    request = httpx.Request("GET", f"http://127.9.0.1{uri}")
    flow = auth.sync_auth_flow(request)
    first = next(flow)
    challenge = httpx.Response(
        401, headers={"WWW-Authenticate": server.challenge(now)}, request=first
    )
    return flow.send(challenge).headers["Authorization"]


def test_digest_auth_accepts_httpx_and_refuses_wrong_or_stale_credentials() -> None:
    server = DigestAuth("antMiner Configuration", "root", "root")
    uri = "/cgi-bin/get_miner_conf.cgi"
    good = signed(httpx.DigestAuth("root", "root"), server, uri, 1000.0)
    assert server.check(good, "GET", uri, 1000.0) == Verdict.OK
    assert server.check(good, "GET", "/cgi-bin/reboot.cgi", 1000.0) == Verdict.BAD
    assert server.check(good, "POST", uri, 1000.0) == Verdict.BAD
    assert server.check(good, "GET", uri, 1000.0 + server.nonce_ttl_s + 1) == Verdict.STALE
    bad = signed(httpx.DigestAuth("root", "toor"), server, uri, 1000.0)
    assert server.check(bad, "GET", uri, 1000.0) == Verdict.BAD
    other = DigestAuth("antMiner Configuration", "root", "root")  # another server's nonce
    assert other.check(good, "GET", uri, 1000.0) == Verdict.BAD
    assert server.check(None, "GET", uri, 1000.0) == Verdict.MISSING
    assert server.check("Basic cm9vdDpyb290", "GET", uri, 1000.0) == Verdict.BAD
    assert parse_header("Digest " + 'a="b", ' * 2000) is None  # bounded
    assert parse_header('Digest username="ro\\"ot", qop=auth') == {
        "username": 'ro"ot', "qop": "auth"
    }  # fmt: skip


# ---------------------------------------------------------------- Braiins and Antminer rules


def test_braiins_save_only_saves_and_bosminer_applies_it_when_it_starts() -> None:
    clock = FakeClock()
    fleet = fleet_of({"model": "S19jPro", "count": 1, "firmware": "braiins"}, clock=clock)
    api = fleet.apis.braiins
    save = bos.SetPowerTargetRequest(save_action=bos.SaveAction.SAVE, power_target=bos.Power(2200))
    assert api.call(0, "set_power_target", save).power_target.watt == 2200
    assert api.active_target_w(0) == 3050 and api.saved_target_w(0) == 2200
    api.call(0, "restart", bos.RestartRequest())
    with pytest.raises(GRPCError) as exc:  # bosminer is restarting
        api.call(0, "get_miner_stats", bos.GetMinerStatsRequest())
    assert exc.value.status == Status.UNAVAILABLE
    clock.advance(S19J.restart_s + S19J.ramp_up_s + 0.01)
    fleet.advance()
    assert api.active_target_w(0) == 2200 and fleet.rigs[0].true_w == pytest.approx(2200)
    with pytest.raises(GRPCError) as exc:
        api.login(0, "root", "toor", now=0.0)
    assert exc.value.status == Status.UNAUTHENTICATED
    token = api.login(0, "root", "root", now=0.0)
    assert api.authorised(0, token, 1.0) and not api.authorised(0, token, 1e9)


def test_antminer_conf_is_validated_and_an_unchanged_conf_does_not_restart() -> None:
    fleet = fleet_of({"model": "S19jPro", "count": 1, "firmware": "antminer"})
    web = fleet.apis.antminer_web
    for body in ({"miner-mode": "x"}, {"miner-mode": True}, {"pools": "nope"},
                 {"pools": [{"url": "u" * 300}]}, {"bitmain-fan-pwm": "300"},
                 {"miner-mode": "9" * 5000}, {"bitmain-fan-pwm": "1" * 5000},
                 {"miner-mode": -1}, {"miner-mode": "٣"}):  # fmt: skip
        reply = web.handle(0, "set_miner_conf", body)
        assert reply is not None and reply["stats"] == "error", body
    assert fleet.rigs[0].state == RigState.HASHING
    assert web.handle(0, "set_miner_conf", {"miner-mode": MODE_NORMAL})["code"] == "M000"
    assert fleet.rigs[0].state == RigState.HASHING  # nothing changed: no restart
    web.handle(0, "set_miner_conf", {"miner-mode": MODE_LOW})
    assert fleet.rigs[0].state == RigState.BOOTING
    assert web.handle(0, "no_such", None) is None and web.handle(0, "../x", None) is None


def test_braiins_replies_from_the_memo_are_the_replies_it_would_build() -> None:
    clock = FakeClock()
    fleet = fleet_of({"model": "S19jPro", "count": 2, "firmware": "braiins"}, clock=clock)
    api = fleet.apis.braiins
    q = bos.GetHashboardsRequest()
    first = api.encoded(0, "get_hashboards", q)
    assert first == bytes(api.call(0, "get_hashboards", q))
    assert api.encoded(0, "get_hashboards", q) is first  # unchanged numbers: the memo
    assert api.encoded(1, "get_hashboards", q) is not first  # one memo per rig
    fleet.sleep(0)
    clock.advance(S19J.shed_s + 0.01)
    asleep = api.encoded(0, "get_hashboards", q)
    assert asleep != first and asleep == bytes(api.call(0, "get_hashboards", q))
    boards = bos.GetHashboardsResponse().parse(asleep).hashboards
    assert [b.stats.real_hashrate.last_5_s.gigahash_per_second for b in boards] == [0.0] * 3
    stats = bos.GetMinerStatsResponse().parse(
        api.encoded(0, "get_miner_stats", bos.GetMinerStatsRequest())
    )
    assert stats.power_stats.approximated_consumption.watt == round(S19J.sleep_w)


def test_whatsminer_refuses_numbers_it_cannot_take() -> None:
    fleet = fleet_of({"model": "M50", "count": 1, "firmware": "whatsminer", "whatsminer_api": "v3"})
    token = pyasic_token(fleet, 0, "admin")
    for hostile in ("9" * 5000, "-5", "2500.5", "", None, True):
        for cmd in ({"cmd": "adjust_power_limit", "power_limit": hostile},
                    {"cmd": "set_power_pct", "percent": hostile}):  # fmt: skip
            reply = parse_btminer_priviledge_data(token, fleet.api_call(0, encrypted(token, cmd)))
            assert reply["Code"] == 132 and reply["STATUS"] == "E", (cmd, reply)
    v3 = fleet.apis.btminer_v3
    for cmd in ("set.miner.power_limit", "set.miner.power_percent"):
        req = {"cmd": cmd, "param": "9" * 5000, "ts": 0, "account": "super"}
        req["token"] = v3_token(cmd, "super", rig_salt(fleet.rigs[0].address), 0)
        assert v3.handle(0, req)["code"] == -1
    assert fleet.apis.btminer.limit_w(0) == 3300 and fleet.firmware(0).power_pct == 100


def test_constant_replies_are_fresh_copies_with_a_status_of_their_own() -> None:
    fleet = fleet_of({"model": "S21", "count": 1, "firmware": "luxos"})
    groups = fleet.api_call(0, {"command": "groups"})
    assert groups["STATUS"][0]["Code"] == 7 and groups["GROUPS"][0]["Name"] == "Default"
    groups["GROUPS"][0]["Name"] = "changed by a caller"
    again = fleet.api_call(0, {"command": "groups+coin"})
    assert again["groups"][0]["GROUPS"][0]["Name"] == "Default"
    assert again["coin"][0]["COIN"][0]["Hash Method"] == "sha256"
    assert again["coin"][0]["STATUS"][0]["Description"].startswith("LUXminer")
