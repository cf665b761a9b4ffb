"""`surplus demo`: the main job. Until the full site demo exists it runs the hashing benchmark."""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller batches, shorter runs")


def run(args: argparse.Namespace) -> int:
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "hashing.py"
    argv = ["--quick"] if args.quick else []
    module = runpy.run_path(str(bench), run_name="surplus_bench")
    return int(module["main"](argv) or 0)
