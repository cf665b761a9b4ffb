"""The command line is built from light modules: `surplus --help` and `surplus CMD --help`
load no numba, numpy, pydantic, aiohttp or pyasic (each command's run() imports what it
needs). They used to import every command's whole stack: a second and 200 MB to print
help. How fast it is now is measured by benchmarks/cli_startup.py, not asserted here.

Each check runs in a fresh interpreter: this one has long imported all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from surplus.cli import COMMANDS

HEAVY = ("numba", "numpy", "pydantic", "aiohttp", "pyasic", "hashing", "prometheus_client")

PROBE = """
import json, sys
from surplus.cli import build_parser, main
argv = sys.argv[1:]
if argv:
    try:
        main(argv)
    except SystemExit:
        pass
else:
    build_parser()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def loaded_after(argv: list[str]) -> list[str]:
    code = PROBE.format(heavy=repr(set(HEAVY)))
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_the_parser_loads_nothing_heavy() -> None:
    assert loaded_after([]) == []


def test_top_level_help_loads_nothing_heavy() -> None:
    assert loaded_after(["--help"]) == []


@pytest.mark.parametrize("command", [name for name, _, _ in COMMANDS])
def test_command_help_loads_nothing_heavy(command: str) -> None:
    assert loaded_after([command, "--help"]) == []


def test_ledger_subcommand_help_loads_nothing_heavy() -> None:
    assert loaded_after(["ledger", "payouts", "--help"]) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: running `warm`'s import chain loads numba."""
    code = "import sys, hashing; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "True"
