"""configs/systemd/*.service: they run real `surplus` commands on the configs they install.

Each unit is read as the INI file it is (configparser, non-strict: systemd allows a key
twice) and checked against the project: every Exec line runs an existing `surplus`
subcommand whose arguments parse, the config its header installs is the one ExecStart
reads and loads with the project's loader, the file limit is above the pool's default
connection limit, the stop timeout leaves room for the pool's drain, what each service
writes lies in its state directory, and the hardening and restart keys are there.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from fleetd.config import load as load_fleetd
from pool.config import load as load_pool
from pool.stratum.config import StratumConfig
from surplus.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "configs" / "systemd"
SURPLUS = "/opt/surplus/.venv/bin/surplus"
INSTALL = re.compile(r"install -m 0640 -g surplus /opt/surplus/(configs/\S+\.toml) (/etc/\S+)")

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
}


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    text = (UNITS / name).read_text(encoding="utf-8")
    parser.read_string(text, source=name)
    return parser


def _seconds(value: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|s|h|ms)?", value):
        total += float(number) * {"": 1, "s": 1, "ms": 0.001, "min": 60, "h": 3600}[unit]
    return total


def _environment(service: configparser.SectionProxy) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(service.get("Environment", "")))


@pytest.mark.parametrize(
    ("unit", "command"),
    [("surplus-pool.service", "pool"), ("surplus-fleetd.service", "fleetd")],
)
def test_unit_runs_a_surplus_command_on_its_installed_config(unit: str, command: str) -> None:
    parsed = _unit(unit)
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    service = parsed["Service"]
    names = {name for name, _, _ in COMMANDS}

    for key in ("ExecStartPre", "ExecStart"):
        if key not in service:
            continue
        argv = shlex.split(service[key])
        assert argv[0] == SURPLUS, f"{unit}: {key} runs {argv[0]}, not the venv's surplus"
        assert argv[1] in names, f"{unit}: {key}: no `surplus {argv[1]}` subcommand"
        args = build_parser().parse_args(argv[1:])  # argparse exits on an unknown option
        assert args.command == argv[1]

    args = build_parser().parse_args(shlex.split(service["ExecStart"])[1:])
    assert args.command == command
    assert isinstance(args.config, Path) and args.config.is_absolute()

    # The header's install step copies a shipped example to the path ExecStart reads.
    header = (UNITS / unit).read_text(encoding="utf-8")
    installs = dict((dst, src) for src, dst in INSTALL.findall(header))
    assert str(args.config) in installs, f"{unit}: the header never installs {args.config}"
    example = ROOT / installs[str(args.config)]
    config = load_pool(example) if command == "pool" else load_fleetd(example)

    state = Path("/var/lib") / service["StateDirectory"]
    assert service["WorkingDirectory"] == str(state)
    if command == "pool":
        assert config.ledger is not None and config.ledger.backend == "postgres"
        assert "postgresql.service" in parsed["Unit"]["After"].split()
    else:
        assert config.audit.path.is_relative_to(state), (
            f"{example.name}: [audit] path {config.audit.path} is outside {state}, which "
            "is the only place the unit can write"
        )
        # The bearer token comes from the environment file the header tells how to write.
        token_env = config.api.token_env
        assert token_env is not None
        env_file = service["EnvironmentFile"].removeprefix("-")
        assert f"{token_env}=" in header and f"> {env_file}" in header


@pytest.mark.parametrize("unit", ["surplus-pool.service", "surplus-fleetd.service"])
def test_unit_has_the_operational_keys(unit: str) -> None:
    parsed = _unit(unit)
    head, service = parsed["Unit"], parsed["Service"]
    assert "network-online.target" in head["Wants"].split()
    assert "network-online.target" in head["After"].split()
    assert parsed["Install"]["WantedBy"] == "multi-user.target"

    assert service["User"] == service["Group"] == "surplus"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a config error: restarting cannot help
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectory"] == "surplus"
    assert int(service["LimitNOFILE"]) >= 65536
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{unit}: expected {key}={value}"
    assert service.get("MemoryDenyWriteExecute", "no") == "no"  # numba / ctypes need W+X


def test_pool_unit_fits_the_pool() -> None:
    parsed = _unit("surplus-pool.service")
    head, service = parsed["Unit"], parsed["Service"]
    for key in ("Wants", "After"):
        assert "bitcoind.service" in head[key].split()

    stratum = StratumConfig()
    assert int(service["LimitNOFILE"]) > stratum.max_connections + 1000
    # SIGTERM answers what was read, drains (client.reconnect to every miner) and then
    # closes the ledger.
    assert _seconds(service["TimeoutStopSec"]) >= (stratum.answer_timeout
                                                   + stratum.drain_timeout + 60)
    # The kernels compile on the first start (ExecStartPre) into the writable cache.
    assert shlex.split(service["ExecStartPre"])[1] == "warm"
    assert _seconds(service["TimeoutStartSec"]) >= 10 * 60
    cache = Path("/var/cache") / service["CacheDirectory"]
    assert Path(_environment(service)["NUMBA_CACHE_DIR"]).is_relative_to(cache)


def test_seconds_reads_systemd_time_spans() -> None:
    assert _seconds("90s") == 90
    assert _seconds("20min") == 1200
    assert _seconds("1min 30s") == 90
    assert _seconds("45") == 45
