"""The `surplus` console script: one entry point, one subcommand per job.

Each subcommand lives in its own module under `surplus.commands` and exposes
`register(parser)` and `run(args)`. Building the parser imports every one of them, so
`register` and the module it comes from are argparse and the standard library only;
`run` imports the command's stack (numba, pydantic, pyasic, aiohttp) when it runs.
`surplus --help` and `surplus CMD --help` take about 0.1 s (benchmarks/cli_startup.py),
and tests/cli checks that they load none of that stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from surplus import __version__

# (name, module, one-line help). Order is the order shown in --help.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "surplus.commands.demo", "run a whole mining site on allotted power, on this machine"),
    ("pool", "surplus.commands.pool", "run the Stratum mining pool (solo or pool mode)"),
    ("ledger", "surplus.commands.ledger", "show balances and blocks, pay miners (pool mode)"),
    ("fleetd", "surplus.commands.fleetd", "keep each site inside its allotted megawatts"),
    ("control", "surplus.commands.control",
     "split a portfolio allotment among many fleetd sites; the operator's control room"),
    ("rigsim", "surplus.commands.rigsim", "run an emulated ASIC fleet (firmware APIs, Stratum)"),
    ("warm", "surplus.commands.warm", "compile and cache the SHA-256d kernels"),
    ("reference", "surplus.commands.reference", "print the configuration reference (Markdown)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surplus",
        description=(
            "Surplus: a Bitcoin mining pool and fleet controller for sites on allotted power."
        ),
    )
    parser.add_argument("--version", action="version", version=f"surplus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).register(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
