"""One loader, one error format, one listen shape: the same mistake reads the same in the
pool's, fleetd's and rigsim's files, old spellings still load with a deprecation message
(once per file and key), and a metrics endpoint that cannot bind leaves nothing behind."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetd.config import load as load_fleetd
from fleetd.metrics import FleetdMetrics
from plumbing.config import ConfigError, parse_toml
from pool.config import load as load_pool
from rigsim.config import load_fleet_config, parse_fleet_config
from rigsim.fleet import Fleet
from rigsim.metrics import RigsimMetrics

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
POOL = f'mode = "solo"\nnetwork = "regtest"\npayout_address = "{ADDRESS}"\n[node]\ndevnet = true\n'
FLEETD = ('[sites.a]\nallotment = [{ kind = "constant", mw = 1.0 }]\n'
          'rigs = [{ host = "127.0.0.1", model = "S19" }]\n')  # fmt: skip
RIGSIM = '[sites.a]\n[[rigs]]\nmodel = "S19"\ncount = 1\nsite = "a"\naddresses = "127.9.0.1"\n'


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(load: Callable[[Path], Any], path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return str(caught.value)


LOADERS = {"pool": (load_pool, POOL), "fleetd": (load_fleetd, FLEETD),
           "rigsim": (load_fleet_config, RIGSIM)}  # fmt: skip


@pytest.mark.parametrize("daemon", list(LOADERS))
def test_every_daemon_says_the_same_mistake_the_same_way(tmp_path: Path, daemon: str) -> None:
    load, text = LOADERS[daemon]
    bad = write(tmp_path, "bad.toml", text + '[metrics]\nlisten = "127.0.0.1:9100"\nlisen = 1\n')
    assert error(load, bad) == (f"{bad}: metrics.lisen: unknown key (check the spelling; "
                                "configs/REFERENCE.md lists every key)")  # fmt: skip
    bad = write(tmp_path, "bad.toml", text + "[metrics]\nenabled = 1\n")
    assert error(load, bad) == f"{bad}: metrics.enabled: expected true or false (got 1)"
    bad = write(tmp_path, "bad.toml", text + '[metrics]\nlisten = "0.0.0.0:9100"\n')
    assert error(load, bad) == (f"{bad}: metrics.listen: expected a loopback address "
                                "(127.0.0.0/8 or ::1), got '0.0.0.0'")  # fmt: skip
    good = load(write(tmp_path, "good.toml", text + '[metrics]\nlisten = "[::1]:0"\n'))
    assert (good.metrics.enabled, good.metrics.host, good.metrics.port) == (True, "::1", 0)
    off = load(write(tmp_path, "off.toml", text + "[metrics]\nenabled = false\n"))
    assert off.metrics.enabled is False


def test_numbers_and_missing_keys_read_alike(tmp_path: Path) -> None:
    fleet = write(tmp_path, "fleet.toml", RIGSIM.replace("count = 1", "count = 0"))
    assert error(load_fleet_config, fleet) == \
        f"{fleet}: rigs[0].count: expected a number greater than 0 (got 0)"  # fmt: skip
    site = write(tmp_path, "site.toml", FLEETD.replace("mw = 1.0", "mw = -2"))
    assert error(load_fleetd, site) == (f"{site}: sites.a.allotment[0].mw: expected a number "
                                        "greater than or equal to 0 (got -2)")  # fmt: skip
    pool = write(tmp_path, "pool.toml", POOL.replace('payout_address = "', 'payout = "'))
    message = error(load_pool, pool)
    assert f"{pool}: payout_address: required key is missing" in message.splitlines()


def test_union_tags_are_plain_words(tmp_path: Path) -> None:
    site = write(tmp_path, "site.toml", FLEETD.replace('kind = "constant"', 'kind = "csv"'))
    assert error(load_fleetd, site) == (
        f"{site}: sites.a.allotment[0]: expected kind = one of constant, schedule, http_json, "
        "zmq, openadr (got 'csv')")  # fmt: skip
    site = write(tmp_path, "site.toml", FLEETD.replace('kind = "constant", ', "")
                 + '[sites.a.meter]\nurl = "http://127.0.0.1:1/"\n')  # fmt: skip
    message = error(load_fleetd, site)
    assert f"{site}: sites.a.allotment[0]: missing 'kind'; expected one of constant, " \
        "schedule, http_json, zmq" in message  # fmt: skip
    assert f"{site}: sites.a.meter: missing 'kind'; expected one of http_json, prometheus" \
        in message  # fmt: skip
    assert "Input tag" not in message and "Unable to extract" not in message


def test_a_value_is_shown_once_and_masked(tmp_path: Path) -> None:
    site = write(tmp_path, "site.toml", FLEETD.replace('model = "S19"', 'model = "S99"'))
    message = error(load_fleetd, site)
    assert message.count("'S99'") == 1 and "sites.a.rigs[0].model: unknown rig model" in message
    fleet = write(tmp_path, "fleet.toml", RIGSIM + '[fleet]\npool_url = ["stratum+tcp://w:'
                  'Secr3tPassw0rd@127.0.0.1:3333"]\n')  # fmt: skip
    message = error(load_fleet_config, fleet)
    assert f"{fleet}: fleet.pool_url: expected a string (got ['stratum+tcp://w:***@" in message
    assert "Secr3t" not in message


def test_old_spellings_load_with_one_deprecation_message(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="plumbing.config")
    pool = write(tmp_path, "pool.toml", POOL + '[metrics]\nlisten = "127.0.0.2"\nport = 9111\n'
                 "[stats_api]\nport = 0\n")  # fmt: skip
    config = load_pool(pool)
    assert config.metrics is not None and config.metrics.listen == "127.0.0.2:9111"
    assert config.stats_api is not None and config.stats_api.listen == "127.0.0.1:0"
    load_pool(pool)  # a second load of the same file says nothing new
    site = write(tmp_path, "site.toml", FLEETD + '[metrics]\nlisten = ""\n')
    assert load_fleetd(site).metrics.enabled is False
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f'{pool}: metrics.listen = "127.0.0.2" and metrics.port = 9111 is deprecated (read '
        'until the next release); write metrics.listen = "127.0.0.2:9111" instead',
        f"{pool}: stats_api.port = 0 is deprecated (read until the next release); write "
        'stats_api.listen = "127.0.0.1:0" instead',
        f'{site}: metrics.listen = "" is deprecated (read until the next release); write '
        "metrics.enabled = false instead",
    ]


def test_a_bad_old_port_names_its_key(tmp_path: Path) -> None:
    pool = write(tmp_path, "pool.toml", POOL + "[stats_api]\nport = 70000\n")
    assert error(load_pool, pool) == (
        f"{pool}: stats_api.port: expected an integer port in 0..65535 (got 70000); write "
        'stats_api.listen = "HOST:PORT" instead')  # fmt: skip


# ---------------------------------------------------------------------- one endpoint


def taken_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


async def test_fleetd_and_rigsim_release_their_endpoint_when_the_port_is_taken() -> None:
    fleet = Fleet(parse_fleet_config(parse_toml(RIGSIM, "fleet.toml")))
    sock, port = taken_port()
    with sock:
        for metrics in (FleetdMetrics(), RigsimMetrics(fleet)):
            with pytest.raises(OSError):
                await metrics.serve("127.0.0.1", port)
            assert metrics.endpoint.runner is None and metrics.endpoint.url is None
    bound = await metrics.serve("127.0.0.1", 0)  # the same object serves once the port is free
    assert metrics.endpoint.url == f"http://127.0.0.1:{bound[1]}/metrics"
    await metrics.close()
    assert metrics.endpoint.url is None

