"""Options every daemon spells the same way (plumbing.options)."""

from __future__ import annotations

import argparse

import pytest

from surplus.cli import build_parser

DAEMONS = ["pool", "fleetd", "rigsim"]


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _log_level_action(name: str) -> argparse.Action:
    return next(a for a in _subparser(name)._actions if "--log-level" in a.option_strings)


def test_every_daemon_shows_the_same_log_levels() -> None:
    shown = {name: (_log_level_action(name).metavar, _log_level_action(name).default)
             for name in DAEMONS}  # fmt: skip
    assert set(shown.values()) == {("{debug,info,warning,error}", "info")}, shown


@pytest.mark.parametrize("name", DAEMONS)
@pytest.mark.parametrize("given", ["info", "INFO", "Warning", " debug "])
def test_log_level_in_any_case(name: str, given: str) -> None:
    convert = _log_level_action(name).type
    assert callable(convert) and convert(given) == given.strip().upper()


@pytest.mark.parametrize("name", DAEMONS)
def test_an_unknown_level_is_a_usage_error(name: str, capsys: pytest.CaptureFixture) -> None:
    required = {"pool": ["--config", "x.toml"], "rigsim": ["--fleet", "x.toml"], "fleetd": []}
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, *required[name], "--log-level", "verbose"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected one of debug, info, warning, error, got 'verbose'" in err


def test_fleetd_usage_shows_config_as_required() -> None:
    usage = _subparser("fleetd").format_usage()
    assert "fleetd --config FILE" in usage
    assert "[--config" not in usage
