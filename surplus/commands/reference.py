"""`surplus reference`: the configuration reference, rendered from the config models.

    surplus reference                                  # Markdown on stdout
    surplus reference --output configs/REFERENCE.md    # refresh the committed copy

tests/test_reference.py fails when configs/REFERENCE.md differs from what this prints,
so a change to a config model is a change to the reference in the same commit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write the Markdown here, not to stdout"
    )


def run(args: argparse.Namespace) -> int:
    from surplus.reference import render

    text = render()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"surplus reference: {args.output}: cannot write: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"surplus reference: wrote {args.output}", file=sys.stderr)
    return 0
