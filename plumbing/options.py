"""Command-line options every daemon spells the same way.

`--log-level` takes debug, info, warning or error in any case (`INFO` and `info` alike,
as operators type both) in pool, fleetd and rigsim; the value stored is the name the
logging module uses (`INFO`), so it can go straight to `Logger.setLevel`.
"""

from __future__ import annotations

import argparse

LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(text: str) -> str:
    """argparse type: a level name in any case -> logging's name; else a usage error."""
    level = text.strip().lower()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(LOG_LEVELS)}, got {text[:40]!r}"
        )
    return level.upper()


def add_log_level(parser: argparse.ArgumentParser, default: str = "info") -> None:
    parser.add_argument(
        "--log-level", type=log_level, default=default, metavar="{" + ",".join(LOG_LEVELS) + "}",
        help=f"how much to log, in any case (default {default})",
    )
