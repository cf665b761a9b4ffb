"""fleetd config: the example files load; bad files fail naming file, key and expectation."""

from __future__ import annotations

import ipaddress
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fleetd.allotment import HttpJsonFeed, OverrideSource, ScheduleSource
from fleetd.config import ConfigError, load, parse_config
from fleetd.drivers import FirmwareKind
from fleetd.sources import build_site_allotment
from rigsim.config import load_fleet_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RIGSIM_FAMILY = {"luxos": FirmwareKind.LUXOS, "braiins": FirmwareKind.BRAIINS,
                 "antminer": FirmwareKind.STOCK, "whatsminer": FirmwareKind.WHATSMINER}


def test_demo_config_matches_the_demo_fleet() -> None:
    cfg = load(CONFIGS / "fleetd-demo.toml")
    assert set(cfg.sites) == {"north", "south"}
    fleet = load_fleet_config(CONFIGS / "fleet-demo.toml")
    emulated = {}
    for g in fleet.rigs:
        first, _ = g.address_range()
        for k in range(g.count):
            emulated[str(ipaddress.IPv4Address(first + k))] = (g.site, g.model,
                                                               RIGSIM_FAMILY[g.firmware])
    ours = {r.host: (r.site, r.model, r.firmware) for r in cfg.rigs()}
    assert ours == emulated  # every emulated rig, at its site, as its model and family
    assert {r.firmware for r in cfg.rigs("north")} == {FirmwareKind.LUXOS}
    assert {r.firmware for r in cfg.rigs("south")} == set(FirmwareKind)  # a mixed site
    assert cfg.api.loopback and cfg.api.bearer_token()
    assert cfg.audit.path.is_absolute()
    north = cfg.sites["north"]
    pc = north.planner_config()
    assert (pc.period_s, pc.min_awake_s, pc.ramp_up_mw_per_min) == (5, 90, 0.3)
    assert north.declared_firm_kw() == 12 and north.overhead.pue == 1.08
    assert cfg.drivers.timeouts().session_ttl_s < 60


def test_mixed_config_matches_the_mixed_fleet_family_by_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = load(CONFIGS / "fleetd-mixed.toml")
    fleet = load_fleet_config(CONFIGS / "fleet-mixed.toml")
    emulated = {}
    for g in fleet.rigs:
        first, _ = g.address_range()
        for k in range(g.count):
            emulated[str(ipaddress.IPv4Address(first + k))] = (g.model, RIGSIM_FAMILY[g.firmware])
    assert {r.host: (r.model, r.firmware) for r in cfg.rigs()} == emulated
    assert {r.firmware for r in cfg.rigs()} == set(FirmwareKind)
    # the secrets come from the environment, and must be there
    with pytest.raises(ConfigError, match="FLEETD_BRAIINS_PASSWORD is not set"):
        cfg.drivers.settings()
    for var, value in (("FLEETD_BRAIINS_PASSWORD", "root"), ("FLEETD_ANTMINER_PASSWORD",
                       "root"), ("FLEETD_WHATSMINER_PASSWORD", "admin"),
                       ("FLEETD_WHATSMINER_V3_PASSWORD", "super")):  # fmt: skip
        monkeypatch.setenv(var, value)
    settings = cfg.drivers.settings()
    creds, control = settings[FirmwareKind.BRAIINS]
    assert (creds.username, creds.password) == ("root", "root") and "password=***" in repr(creds)
    assert control.response_s == 16 and control.granularity == "watts"
    assert settings[FirmwareKind.WHATSMINER][1].granularity == "percent"
    assert settings[FirmwareKind.WHATSMINER][0].password_v3 == "super"
    assert settings[FirmwareKind.STOCK][1].granularity == "modes"
    # every family's response covers the fleet's compressed shed timings
    tune_down = {fleet.model_for(m).tune_down_s for m in ("S19", "S19XP", "S21")}
    assert settings[FirmwareKind.BRAIINS][1].response_s > max(tune_down)
    shed = max(fleet.model_for(g.model).shed_s for g in fleet.rigs)
    assert all(c.response_s is not None and c.response_s > shed for _, c in settings.values())


def test_family_driver_tables_are_checked() -> None:
    base = {"sites": {"a": {"allotment": [{"kind": "constant", "mw": 1}],
                            "rigs": [{"host": "10.0.0.1", "model": "S19"}]}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"drivers\.whatsminer\.control"):
        parse_config(base | {"drivers": {"whatsminer": {"control": "watts"}}})
    with pytest.raises(ConfigError, match=r"drivers\.luxos\.password_env"):
        parse_config(base | {"drivers": {"luxos": {"password_env": "X"}}})
    with pytest.raises(ConfigError, match=r"drivers\.braiins\.password"):
        parse_config(base | {"drivers": {"braiins": {"password": "in-the-file"}}})
    with pytest.raises(ConfigError, match=r"drivers\.stock\.response_s"):
        parse_config(base | {"drivers": {"stock": {"response_s": -1}}})


def test_demo_allotment_builds_and_compresses_the_day() -> None:
    cfg = load(CONFIGS / "fleetd-demo.toml")
    start = time.time()
    site = build_site_allotment(cfg.sites["north"], start_at=start)
    sched = site.source("hydro-day")
    assert isinstance(sched, ScheduleSource)
    assert sched.times[0] == start and sched.repeat_s == pytest.approx(900.0)
    assert isinstance(site.override, OverrideSource)
    e = site.effective(start + 1)
    assert e.bound_by in ("hydro-day", "licence") and 0.25 <= e.mw <= 0.60
    # the 17:00 cut is 17/24 of the compressed 15 minutes in
    cut = start + 17 * 3600 / 96
    assert site.effective(cut).mw == pytest.approx(0.31)
    assert any(c.at == pytest.approx(cut) for c in site.next_changes(cut - 30, 60))


def test_site_config_is_a_real_site_with_feed_meter_and_mixed_firmware() -> None:
    cfg = load(CONFIGS / "fleetd-site.toml")
    fjord = cfg.sites["fjord"]
    assert fjord.meter is not None and fjord.meter.kind == "prometheus"
    assert [f.name for f in fjord.firm_loads] == ["ai-hall", "offices"]
    assert fjord.declared_firm_kw() == 4200 + 120
    kinds = {r.firmware for r in cfg.rigs("fjord")}
    assert kinds == set(FirmwareKind)
    assert len(cfg.rigs()) == 4094 + 2046 + 1022 + 510
    assert cfg.api.token_env == "FLEETD_API_TOKEN" and cfg.api.loopback
    site = build_site_allotment(fjord)
    feed = site.source("tso")
    assert isinstance(feed, HttpJsonFeed) and site.feeds() == [feed]
    assert feed.fields.mw == "allotment.mw" and feed.state.floor_mw == 12.0
    e = site.effective(time.time())
    assert e.mw == 12.0 and e.bound_by == "tso" and e.stale  # silent feed: floor


def base() -> dict[str, Any]:
    return {
        "sites": {
            "a": {
                "allotment": [{"kind": "constant", "mw": 1.0}],
                "rigs": [{"host": "127.0.0.1", "model": "S19"}],
            }
        }
    }


def err(data: dict[str, Any], tmp_path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "site.toml", tmp_path or ".")
    return str(info.value)


def test_minimal_config_defaults() -> None:
    cfg = parse_config(base())
    assert cfg.api.listen == "127.0.0.1:8470" and cfg.api.bearer_token() is None
    # /metrics where configs/prometheus.yml scrapes fleetd
    assert (cfg.metrics.host, cfg.metrics.port) == ("127.0.0.1", 9102)
    assert cfg.sites["a"].command_batch_size == 200
    assert cfg.sites["a"].max_reading_age_s == 30.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["sites"]["a"]["rigs"][0].update(model="S99"),
         "site.toml: sites.a.rigs[0].model: unknown rig model 'S99'; expected one of S19"),
        (lambda d: d["sites"]["a"]["rigs"][0].update(range="127.0.0.2-127.0.0.3"),
         "sites.a.rigs[0]: expected exactly one of host, range or cidr"),
        (lambda d: d["sites"]["a"]["rigs"][0].update(firmware="vnish"),
         "sites.a.rigs[0].firmware: expected one of 'luxos', 'braiins', 'stock' or "
         "'whatsminer' (got 'vnish')"),
        (lambda d: d["sites"]["a"]["allotment"][0].update(mw=-2),
         "sites.a.allotment[0].mw: expected a number greater than or equal to 0 (got -2)"),
        (lambda d: d["sites"]["a"]["allotment"][0].pop("kind"),
         "sites.a.allotment[0]: missing 'kind'; expected one of constant, schedule"),
        (lambda d: d["sites"]["a"]["allotment"].append({"kind": "http_json", "url": "ftp://x",
                                                        "floor_mw": 1}),
         "sites.a.allotment[1].url: expected an http:// or https:// URL"),
        (lambda d: d["sites"]["a"]["allotment"].append({"kind": "http_json", "floor_mw": 1,
                                                        "url": "http://x", "interval_s": 90}),
         "sites.a.allotment[1]: stale_after_s (60) must exceed interval_s (90)"),
        (lambda d: d["sites"]["a"]["allotment"].append({"kind": "zmq", "endpoint": "x:1",
                                                        "floor_mw": 0}),
         "sites.a.allotment[1].endpoint: expected a ZMQ endpoint"),
        (lambda d: d["sites"]["a"]["allotment"].append({"kind": "constant", "mw": 2}),
         "sites.a: allotment source names must be distinct"),
        (lambda d: d["sites"]["a"].update(pue=1.2),
         "sites.a.pue: unknown key"),
        (lambda d: d["sites"]["a"].update(overhead={"pue": 0.9}),
         "sites.a.overhead.pue: expected a number greater than or equal to 1"),
        (lambda d: d["sites"]["a"].update(firm_loads=[{"name": "ai", "meter": {
            "kind": "prometheus", "url": "http://p:9090", "query": "up"}}]),
         "sites.a.firm_loads[0]: a metered firm load needs max_kw"),
        (lambda d: d["sites"]["a"].update(meter={"kind": "prometheus", "url": "http://p"}),
         "sites.a.meter.query: required key is missing"),
        (lambda d: d.update(api={"listen": "0.0.0.0:8470"}),
         "api: the API listens beyond loopback (0.0.0.0); expected a bearer token"),
        (lambda d: d.update(api={"listen": "localhost"}),
         "api.listen: expected 'address:port'"),
        (lambda d: d.update(metrics={"listen": "0.0.0.0:9102"}),
         "metrics.listen: expected a loopback address (127.0.0.0/8 or ::1), got '0.0.0.0'"),
        (lambda d: d.update(metrics={"listen": "9102"}),
         "metrics.listen: expected 'address:port' such as 127.0.0.1:9102"),
        (lambda d: d.update(drivers={"session_ttl_s": 90}),
         "drivers.session_ttl_s: expected a number less than 60"),
        (lambda d: d["sites"]["a"]["rigs"].append({"range": "127.0.0.0-127.0.0.5",
                                                   "model": "S21"}),
         "sites.a.rigs[1]: rig 127.0.0.1 is already listed at sites.a.rigs[0]"),
        (lambda d: d["sites"]["a"]["rigs"].append({"cidr": "10.0.0.0/8", "model": "S21"}),
         "sites.a.rigs[1].cidr: 10.0.0.0/8 holds 16777216 addresses; at most 65536"),
        (lambda d: d.update(sites={}),
         "sites: expected at least 1 item"),
    ],
)  # fmt: skip
def test_bad_config_names_key_and_expectation(change: Any, expected: str) -> None:
    data = base()
    change(data)
    assert expected in err(data)


def test_metrics_is_off_when_disabled_and_takes_ipv6_loopback() -> None:
    assert parse_config(base() | {"metrics": {"enabled": False}}).metrics.enabled is False
    # the previous release's spelling of "off" still works (tests/plumbing/test_config.py)
    assert parse_config(base() | {"metrics": {"listen": ""}}).metrics.enabled is False
    cfg = parse_config(base() | {"metrics": {"listen": "[::1]:0"}})
    assert (cfg.metrics.host, cfg.metrics.port) == ("::1", 0)


def test_schedule_file_problems_are_named(tmp_path: Path) -> None:
    data = base()
    data["sites"]["a"]["allotment"].append({"kind": "schedule", "file": "day.csv"})
    msg = err(data, tmp_path)
    assert "sites.a.allotment[1].file: " in msg and "does not exist" in msg
    (tmp_path / "day.csv").write_text("start,mw\n2025-06-21T00:00:00,1\n")
    msg = err(data, tmp_path)
    assert "sites.a.allotment[1].file: " in msg and "no UTC offset" in msg
    data["sites"]["a"]["allotment"][1]["timezone"] = "Europe/Oslo"
    cfg = parse_config(data, "site.toml", tmp_path)
    assert cfg.sites["a"].allotment[1].file == (tmp_path / "day.csv").resolve()  # type: ignore[union-attr]
    data["sites"]["a"]["allotment"][1]["timezone"] = "Nowhere/Land"
    assert "sites.a.allotment[1].timezone: unknown time zone 'Nowhere/Land'" in err(
        data, tmp_path
    )


def test_load_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "fleetd.toml"
    with pytest.raises(ConfigError, match=rf"{p}: cannot read the fleetd config"):
        load(p)
    p.write_text("[sites.a\n")
    with pytest.raises(ConfigError, match=rf"{p}: not valid TOML"):
        load(p)
    p.write_text('[sites.a]\nallotment = [{kind = "constant", mw = 1}]\n'
                 '[[sites.a.rigs]]\nhost = "10.0.0.300"\nmodel = "S19"\n')  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load(p)
    assert str(info.value).startswith(f"{p}: sites.a.rigs[0].host: expected an IPv4")
    data = tomllib.loads((CONFIGS / "fleetd-demo.toml").read_text())
    data["sites"]["north"]["rigs"][0]["model"] = "S9"
    with pytest.raises(ConfigError, match=r"sites\.north\.rigs\[0\]\.model"):
        parse_config(data, "x", CONFIGS)


def test_bearer_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load(CONFIGS / "fleetd-site.toml")
    monkeypatch.delenv("FLEETD_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="FLEETD_API_TOKEN is not set"):
        cfg.api.bearer_token()
    monkeypatch.setenv("FLEETD_API_TOKEN", "s3cret-s3cret-s3cret")
    assert cfg.api.bearer_token() == "s3cret-s3cret-s3cret"


def test_token_env_follows_the_same_rule_as_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3-character token from the environment was taken even beyond loopback."""
    data = base() | {"api": {"listen": "0.0.0.0:8470", "token_env": "FLEETD_T"}}
    cfg = parse_config(data)
    monkeypatch.setenv("FLEETD_T", "abc")
    with pytest.raises(ConfigError, match="FLEETD_T: the token has 3 characters; expected at "
                                          "least 16"):  # fmt: skip
        cfg.api.bearer_tokens()
    monkeypatch.setenv("FLEETD_T", "has spaces in it but long")
    with pytest.raises(ConfigError, match="printable ASCII characters without spaces"):
        cfg.api.bearer_tokens()
    assert "the token has 3 characters; expected at least 16" in err(
        base() | {"api": {"token": "abc"}}
    )
    monkeypatch.setenv("FLEETD_T", "0123456789abcdef")
    assert cfg.api.bearer_tokens() == {"api": "0123456789abcdef"}


def test_named_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETD_OPS", "ops-token-0123456789")
    api = {"listen": "0.0.0.0:8470", "token": "legacy-token-0123456789",
           "tokens": [{"name": "ops", "token_env": "FLEETD_OPS"},
                      {"name": "scada", "token": "scada-token-0123456789"}]}  # fmt: skip
    cfg = parse_config(base() | {"api": api})
    assert cfg.api.bearer_tokens() == {"api": "legacy-token-0123456789",
                                       "ops": "ops-token-0123456789",
                                       "scada": "scada-token-0123456789"}  # fmt: skip
    assert cfg.api.bearer_token() == "legacy-token-0123456789"
    for tokens, expected in [
        ([{"name": "api", "token": "x" * 20}], "token names must be distinct"),
        ([{"name": "bad name\n", "token": "x" * 20}], "api.tokens[0].name: "),
        ([{"name": "a", "token": "short"}], "api.tokens[0].token: token: the token has 5"),
        ([{"name": "a"}], "expected exactly one of token or token_env"),
    ]:
        assert expected in err(base() | {"api": api | {"tokens": tokens}})
    shared = api | {"tokens": [{"name": "twin", "token": "legacy-token-0123456789"}]}
    with pytest.raises(ConfigError, match="two names share one token"):
        parse_config(base() | {"api": shared}).api.bearer_tokens()
    only_named = parse_config(base() | {"api": {"listen": "0.0.0.0:8470",
                                                "tokens": api["tokens"][1:]}})  # fmt: skip
    assert only_named.api.bearer_tokens() == {"scada": "scada-token-0123456789"}
