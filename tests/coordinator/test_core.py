"""The coordinator's core without sockets: config, actions, state file, signed feed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coordinator.audit import AuditLog, read_audit
from coordinator.config import load, parse_config
from coordinator.core import Coordinator, report_from_summary
from coordinator.state import State, StateError
from plumbing.config import ConfigError
from plumbing.signing import Refused, Verifier

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
KEYS = {"a": b"a" * 32, "b": b"b" * 32}
T0 = 1_750_000_000.0


def config(**control: Any) -> Any:
    return parse_config(
        {
            "control": {"portfolio_mw": 10.0, "policy": "merit"} | control,
            "sites": {
                "a": {"api_url": "http://127.0.0.1:1", "key_env": "K_A", "licence_mw": 8.0},
                "b": {
                    "api_url": "http://127.0.0.1:2",
                    "key_env": "K_B",
                    "licence_mw": 6.0,
                    "site": "fjord",
                },
            },
        }
    )


def summary(site_kw: float, ths: float, rigs: int = 10, firm_kw: float = 0.0) -> dict[str, Any]:
    return {"site_kw": site_kw, "firm_kw": firm_kw, "hashrate_ths": ths, "rigs": rigs}


def core(tmp: Path, state: State | None = None) -> Coordinator:
    path = tmp / "state.json"
    return Coordinator(
        config(),
        KEYS,
        state or State(10.0),
        AuditLog(tmp / "audit.jsonl"),
        save=lambda s: s.save(path),
    )


def test_the_example_config_loads() -> None:
    cfg = load(CONFIGS / "control.toml")
    assert cfg.control.policy == "merit" and set(cfg.sites) == {"north", "south"}
    assert cfg.control.state_file.is_absolute()


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        ({"a": {"api_url": "ftp://x", "key_env": "K", "licence_mw": 1.0}}, "http://"),
        ({"a": {"api_url": "http://x", "licence_mw": 1.0}}, "exactly one of key_env"),
        (
            {
                "a": {"api_url": "http://x", "key_env": "K", "licence_mw": 1.0, "share": 0.5},
                "b": {"api_url": "http://x", "key_env": "K", "licence_mw": 1.0},
            },
            "every site a share",
        ),
    ],
)
def test_bad_configs_name_the_key(sites: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config({"control": {"portfolio_mw": 1.0}, "sites": sites})


def test_report_from_fleetd_summary() -> None:
    r = report_from_summary(summary(3500.0, 200_000.0, rigs=1000, firm_kw=500.0))
    assert r.draw_mw == pytest.approx(3.5)
    assert r.sheddable_mw == pytest.approx(3.0 - 0.03)
    assert r.jth == pytest.approx(17.5)
    with pytest.raises(ValueError, match="site_kw"):
        report_from_summary({"site_kw": "lots"})


def test_merit_split_follows_the_reports_and_is_audited(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.set_report("a", summary(8000.0, 235_000.0), T0)  # 34 J/TH
    c.set_report("b", summary(5000.0, 370_000.0), T0)  # 13.5 J/TH
    assert c.resplit(T0, "start") == pytest.approx({"a": 4.0, "b": 6.0})
    c.set_portfolio(7.0, "ops", "TSO\ncut", T0 + 1)
    assert c.state.allotments == pytest.approx({"a": 1.0, "b": 6.0})
    recs = list(read_audit(tmp_path / "audit.jsonl"))
    action = next(r for r in recs if r["kind"] == "action")
    assert action["by"] == "ops" and action["reason"] == "TSO\\ncut"
    assert {r["site"] for r in recs if r["kind"] == "command"} == {"a", "b"}


def test_stop_override_and_restart_from_the_state_file(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.resplit(T0, "start")
    c.set_override("b", 2.0, 600, "ops", "transformer", T0)
    assert c.state.allotments["b"] == 2.0
    with pytest.raises(ValueError, match="licence"):
        c.set_override("b", 7.0, 600, "ops", "", T0)
    c.emergency_stop("night", "drill", T0 + 1)
    assert set(c.state.allotments.values()) == {0.0}
    again = core(tmp_path, State.load(tmp_path / "state.json", 99.0))
    assert again.state.stop is not None and again.state.stop.by == "night"
    assert again.state.portfolio_mw == 10.0 and again.state.override("b", T0 + 2) is not None
    again.resume("night", "", T0 + 2)
    assert again.state.allotments["b"] == 2.0
    assert again.state.override("b", T0 + 601) is None  # expired


def test_a_broken_state_file_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text("{not json")
    with pytest.raises(StateError, match="not JSON"):
        State.load(p, 1.0)
    p.write_text(json.dumps({"version": 1, "portfolio_mw": -4}))
    with pytest.raises(StateError, match="not a coordinator state"):
        State.load(p, 1.0)


def test_the_feed_is_signed_for_the_site_name_fleetd_knows(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.resplit(T0, "start")
    v = Verifier(KEYS["b"], "fjord")
    first = c.feed("b", T0 + 1)
    assert v.open(first, T0 + 1)["mw"] == c.state.allotments["b"]
    assert v.open(c.feed("b", T0 + 1), T0 + 1)["seq"] > json.loads(first["signed"])["seq"]
    with pytest.raises(Refused):
        Verifier(KEYS["a"], "fjord").open(c.feed("b", T0 + 2), T0 + 2)


def test_merit_order_by_the_pool_verified_jth(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.set_report("a", summary(8000.0, 235_000.0), T0)  # claims 34 J/TH
    c.set_report("b", summary(5000.0, 370_000.0), T0)  # claims 13.5 J/TH ...
    c.set_pool("b", 100e15, T0)  # ... but the pool credits 100 PH/s: 50 J/TH
    c.set_pool("a", 235e15, T0)  # a's claim holds: 34 J/TH
    assert c.jth(c.sites["b"], T0) == (pytest.approx(50.0), "pool")
    assert c.resplit(T0, "start") == pytest.approx({"a": 8.0, "b": 2.0})  # a is better now
    st = {x["name"]: x for x in c.status(T0)["sites"]}
    assert st["b"]["jth_source"] == "pool" and st["b"]["jth_rigs"] == pytest.approx(13.5, rel=0.01)
    # a pool figure older than three intervals is not trusted: the rigs' claim again
    assert c.jth(c.sites["b"], T0 + 16) == (pytest.approx(13.5, rel=0.01), "rigs")


def test_pool_account_needs_a_pool_table() -> None:
    with pytest.raises(ConfigError, match=r"\[pool\]"):
        parse_config(
            {
                "control": {"portfolio_mw": 1.0},
                "sites": {
                    "a": {
                        "api_url": "http://x",
                        "key_env": "K",
                        "licence_mw": 1.0,
                        "pool_account": "north",
                    }
                },
            }
        )


def test_jth_is_learnt_while_the_site_hashes_not_while_it_sheds(tmp_path: Path) -> None:
    c = core(tmp_path)
    c.set_report("b", summary(5000.0, 370_000.0), T0)  # 13.5 J/TH at full hashrate
    # most rigs asleep: their sleep draw and the overhead over a tenth of the hashrate
    c.set_report("b", summary(800.0, 37_000.0), T0 + 1)
    # rigs booting: power, no hashrate yet
    c.set_report("b", summary(3000.0, 0.0), T0 + 2)
    assert c.jth(c.sites["b"], T0 + 2) == (pytest.approx(13.5, rel=0.01), "rigs")
    c.set_report("b", summary(4700.0, 300_000.0), T0 + 3)  # 81 % of its peak: not learnt
    assert c.jth(c.sites["b"], T0 + 3)[0] == pytest.approx(13.5, rel=0.01)
    c.set_report("b", summary(5000.0, 340_000.0), T0 + 4)  # back at 92 %: 14.7 J/TH
    assert c.jth(c.sites["b"], T0 + 4)[0] == pytest.approx(0.7 * 13.51 + 0.3 * 14.71, rel=0.01)
