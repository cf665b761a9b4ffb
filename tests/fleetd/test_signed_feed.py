"""A signed live feed in fleetd: the config's [signing] table, and the feed taking only
signed, fresh, unreplayed messages and falling back by its stale rule otherwise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fleetd.allotment import HttpJsonFeed
from fleetd.config import ConfigError, parse_config
from fleetd.sources import build_site_allotment
from plumbing.signing import Verifier, sign

KEY = b"s" * 40
T0 = 1_750_000_000.0


def config(signing: dict[str, Any], tmp: Path) -> dict[str, Any]:
    return {
        "sites": {"north": {
            "allotment": [{"kind": "http_json", "name": "ctl", "url": "http://127.0.0.1:9/f",
                           "floor_mw": 0.5, "stale_after_s": 20.0, "signing": signing}],
            "rigs": [{"host": "127.0.0.5", "model": "S19", "firmware": "luxos"}],
        }},
    }  # fmt: skip


def test_signing_table_builds_a_verifier_from_a_key_file(tmp_path: Path) -> None:
    (tmp_path / "north.key").write_text(KEY.decode() + "\n")
    cfg = parse_config(config({"key_file": "north.key", "max_age_s": 10.0}, tmp_path),
                       source="f.toml", base_dir=tmp_path)  # fmt: skip
    feed = build_site_allotment(cfg.sites["north"], name="north").source("ctl")
    assert isinstance(feed, HttpJsonFeed) and feed.verifier is not None
    assert feed.verifier.key == KEY and feed.verifier.site == "north"
    assert feed.verifier.max_age_s == 10.0


def test_signing_site_name_and_env_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NORTH_FEED_KEY", KEY.decode())
    cfg = parse_config(config({"key_env": "NORTH_FEED_KEY", "site": "op-north"}, tmp_path),
                       source="f.toml", base_dir=tmp_path)  # fmt: skip
    feed = build_site_allotment(cfg.sites["north"], name="north").source("ctl")
    assert isinstance(feed, HttpJsonFeed) and feed.verifier is not None
    assert feed.verifier.site == "op-north"


@pytest.mark.parametrize(
    ("signing", "expected"),
    [({}, "exactly one of key_env or key_file"),
     ({"key_env": "A", "key_file": "k"}, "exactly one"),
     ({"key_env": "bad name"}, "key_env")],
)  # fmt: skip
def test_bad_signing_tables(signing: dict[str, Any], expected: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(config(signing, tmp_path), source="f.toml", base_dir=tmp_path)


def test_unreadable_or_short_key_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "short.key").write_text("tiny")
    cfg = parse_config(config({"key_file": "short.key"}, tmp_path), source="f.toml",
                       base_dir=tmp_path)  # fmt: skip
    with pytest.raises(ConfigError, match=r"allotment\[0\]\.signing\.key_file"):
        build_site_allotment(cfg.sites["north"], name="north")


def feed() -> HttpJsonFeed:
    return HttpJsonFeed("ctl", "http://127.0.0.1:9/f", stale_after_s=20.0, floor_mw=0.5,
                        verifier=Verifier(KEY, "north"))  # fmt: skip


def test_the_feed_takes_signed_figures_and_refuses_the_rest() -> None:
    f = feed()
    assert f.handle(sign(KEY, "north", 1, T0, {"mw": 3.0, "as_of": T0}), T0)
    assert f.current(T0 + 1).mw == 3.0
    forged = sign(b"x" * 40, "north", 2, T0 + 1, {"mw": 9.0, "as_of": T0 + 1})
    assert not f.handle(forged, T0 + 1)
    assert not f.handle({"mw": 9.0, "as_of": T0 + 1}, T0 + 1)  # unsigned
    assert not f.handle(sign(KEY, "north", 1, T0, {"mw": 9.0, "as_of": T0}), T0 + 2)  # replay
    assert f.current(T0 + 3).mw == 3.0  # the last good figure holds ...
    assert f.state.errors == 3 and "replayed message" in f.state.last_error
    assert dict(f.verifier.refused) == {"forged": 1, "unsigned": 1, "replayed": 1}  # type: ignore[union-attr]
    r = f.current(T0 + 21)  # ... until the feed's stale rule gives the floor
    assert r.stale and r.mw == 0.5


def test_a_signed_feed_logs_refusals_bounded_and_escaped(caplog: pytest.LogCaptureFixture) -> None:
    f = feed()
    caplog.set_level("WARNING", logger="fleetd.allotment")
    for k in range(50):
        f.handle({"mw\n\x1b[31mINJECTED": 1.0, "n": k}, T0 + k * 0.1)
    lines = [r.getMessage() for r in caplog.records]
    assert 1 <= len(lines) <= 2  # rate-limited: one line per kind of trouble per 30 s
    assert "unsigned message" in lines[0]
    assert all("\n" not in m and "\x1b" not in m for m in lines)


def test_a_zmq_feed_checks_signatures_the_same_way() -> None:
    from fleetd.allotment import ZmqFeed
    from plumbing.signing import encode

    feed = ZmqFeed("ctl", "tcp://127.0.0.1:9", stale_after_s=20.0, floor_mw=0.5,
                   verifier=Verifier(KEY, "north"))  # fmt: skip
    now = time.time()
    assert feed.handle_bytes(encode(sign(KEY, "north", 1, now, {"mw": 2.0, "as_of": now})))
    assert not feed.handle_bytes(b'{"mw": 9.0}')
    assert feed.current(now).mw == 2.0 and feed.verifier.refused["unsigned"] == 1  # type: ignore[union-attr]
