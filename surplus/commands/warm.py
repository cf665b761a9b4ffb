"""`surplus warm`: compile every SHA-256d kernel for every argument type the pool uses.

numba caches compiled kernels on disk (`cache=True`), so the first process pays the
compile (tens of seconds) and every later one loads in well under a second.
"""

from __future__ import annotations

import argparse
import sys
import time


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if not args.quiet:
        print(
            "compiling SHA-256d kernels (the first run on a machine takes a few minutes)...",
            file=sys.stderr,
        )
    from hashing.warm import warm

    compiled = warm()
    if not args.quiet:
        print(f"kernels ready: {compiled} signatures in {time.perf_counter() - start:.1f}s")
    return 0
