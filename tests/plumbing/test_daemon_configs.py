"""Every daemon's config errors mask credentials, and every daemon decides "loopback"
with plumbing.netaddr: pool, fleetd and rigsim, through their real loaders and CLIs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from fleetd.config import ConfigError as FleetdConfigError
from fleetd.config import parse_config as parse_fleetd
from pool.config import ConfigError as PoolConfigError
from pool.config import loads as load_pool
from rigsim import cli as rigsim_cli
from rigsim.config import ConfigError as RigsimConfigError
from rigsim.config import parse_fleet_config
from surplus.cli import main as surplus_main

SECRET = "S3cretPassw0rd"
RPC_URL = f"http://rpcuser:{SECRET}@127.0.0.1:8332/"
ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def pool_text(node: str = "[node]\ndevnet = true\n", extra: str = "") -> str:
    return f'mode = "solo"\nnetwork = "regtest"\npayout_address = "{ADDRESS}"\n{extra}\n{node}'


def pool_error(text: str) -> str:
    with pytest.raises(PoolConfigError) as caught:
        load_pool(text, "pool.toml")
    return str(caught.value)


def fleetd_base(**top: Any) -> dict[str, Any]:
    return {"sites": {"a": {"allotment": [{"kind": "constant", "mw": 1.0}],
                            "rigs": [{"host": "127.0.0.1", "model": "S19"}]}}, **top}  # fmt: skip


def fleetd_error(data: dict[str, Any]) -> str:
    with pytest.raises(FleetdConfigError) as caught:
        parse_fleetd(data, "site.toml")
    return str(caught.value)


RIGS = {"sites": {"a": {}}, "rigs": [{"model": "S19", "count": 1, "site": "a",
                                      "addresses": "127.9.0.1"}]}  # fmt: skip


# ------------------------------------------------------------------ credentials


@pytest.mark.parametrize(
    "node",
    [
        f'[node]\nurls = "{RPC_URL}"\n',  # a string where a list is expected
        f'[node]\nurls = ["{RPC_URL}"]\nzmq_hashblock = "{RPC_URL}"\n',
        f'[node]\nurls = ["{RPC_URL}"]\nzmq_hashblock = ["{RPC_URL}"]\n',
        f'[node]\nurls = ["http://rpcuser:{SECRET}@127.0.0.1/"]\n',  # no port
    ],
)
def test_pool_config_errors_never_show_the_rpc_password(node: str) -> None:
    message = pool_error(pool_text(node))
    assert "node." in message and SECRET not in message and "rpcuser:***@" in message


@pytest.mark.parametrize(
    "ledger",
    [
        f'dsn = ["host=127.0.0.1 user=surplus password={SECRET}"]',
        f'dsn = {{ url = "postgresql://surplus:{SECRET}@127.0.0.1/ledger" }}',
    ],
)
def test_pool_config_errors_never_show_the_database_password(ledger: str) -> None:
    text = pool_text(extra=f"[ledger]\nscheme = 'solo'\n{ledger}\n")
    message = pool_error(text)
    assert "ledger.dsn" in message and SECRET not in message and "***" in message


def test_pool_command_prints_the_error_without_the_password(tmp_path: Path, capsys) -> None:
    path = tmp_path / "pool.toml"
    path.write_text(pool_text(f'[node]\nurls = "{RPC_URL}"\n'))
    assert surplus_main(["pool", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: node.urls:" in err and SECRET not in err


def test_pool_says_plainly_that_its_database_is_down(tmp_path: Path, capsys) -> None:
    """No traceback, no password: what to fix, naming the key."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "pool.toml"
    path.write_text(pool_text(extra=(
        '[stratum]\nport = 0\n[ledger]\nbackend = "postgres"\nscheme = "solo"\n'
        f'dsn = "host=127.0.0.1 port={port} user=x password={SECRET} connect_timeout=2"\n'
    )))  # fmt: skip
    assert surplus_main(["pool", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: cannot start: ledger: cannot open the postgres ledger" in err
    assert "Traceback" not in err and SECRET not in err


@pytest.mark.parametrize(
    "change",
    [
        {"api": {"token": "Sh0rt" + SECRET[:5]}},  # a token too short is still a secret
        {"api": {"token": 12345678901234567890}},
        {"sites": {"a": {"allotment": [{"kind": "http_json", "url": [RPC_URL]}],
                         "rigs": [{"host": "127.0.0.1", "model": "S19"}]}}},
        {"sites": {"a": {"allotment": [{"kind": "http_json",
                                        "url": f"ftp://u:{SECRET}@feed.example/x"}],
                         "rigs": [{"host": "127.0.0.1", "model": "S19"}]}}},
    ],
)  # fmt: skip
def test_fleetd_config_errors_never_show_a_secret(change: dict[str, Any]) -> None:
    message = fleetd_error(fleetd_base() | change)
    assert message.startswith(("site.toml: sites.", "site.toml: api."))
    assert SECRET not in message and SECRET[:5] not in message and "12345678901234567890" \
        not in message  # fmt: skip


def test_rigsim_config_and_cli_errors_never_show_a_password(capsys) -> None:
    with pytest.raises(RigsimConfigError) as caught:
        parse_fleet_config(RIGS | {"fleet": {"pool_url": [f"stratum+tcp://w:{SECRET}@h:3333"]}})
    assert "fleet.pool_url" in str(caught.value) and SECRET not in str(caught.value)
    args = argparse.Namespace(fleet="unused.toml", pool=f"http://w:{SECRET}@127.0.0.1:3333",
                              metrics="off", no_api=True, duration=0.1, status_every=0)
    assert rigsim_cli.run(args) == 2
    err = capsys.readouterr().err
    assert "pool URL" in err and SECRET not in err


# ------------------------------------------------------------------ loopback


@pytest.mark.parametrize("section", ["metrics", "stats_api"])
def test_pool_http_endpoints_take_loopback_by_address_not_by_prefix(section: str) -> None:
    message = pool_error(pool_text(extra=f'[{section}]\nlisten = "127.attacker.example"\n'))
    assert f"pool.toml: {section}.listen: expected a loopback" in message
    for good in ("localhost", "127.0.0.2", "[::1]"):
        config = load_pool(pool_text(extra=f'[{section}]\nlisten = "{good}:0"\n'))
        assert getattr(config, section).host == good.strip("[]")


def test_fleetd_metrics_take_loopback_by_address_and_localhost_by_resolving() -> None:
    message = fleetd_error(fleetd_base(metrics={"listen": "127.attacker.example:9102"}))
    assert "metrics.listen: expected a loopback" in message
    cfg = parse_fleetd(fleetd_base(metrics={"listen": "localhost:0"}))
    assert (cfg.metrics.host, cfg.metrics.port) == ("localhost", 0)


def test_rigsim_meters_listen_on_loopback_only(capsys) -> None:
    for bad in ("127.attacker.example:9103", "0.0.0.0:9103", "9103"):
        args = argparse.Namespace(fleet="unused.toml", pool=None, metrics=bad, no_api=True,
                                  duration=0.1, status_every=0)  # fmt: skip
        assert rigsim_cli.run(args) == 2
        assert "--metrics:" in capsys.readouterr().err
    assert rigsim_cli._metrics_address("localhost:0") == ("localhost", 0)
    assert rigsim_cli._metrics_address("[::1]:9103") == ("::1", 9103)
    assert rigsim_cli._metrics_address("off") is None
