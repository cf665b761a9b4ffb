"""`surplus warm`: compile every SHA-256d kernel this CPU runs, and measure which is fastest.

numba caches compiled kernels on disk (`cache=True`), so the first process pays the
compile (seconds) and every later one loads in well under a second; the measured choice
is recorded beside them for every later process (`hashing.choice`).
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
            "compiling and measuring the SHA-256d kernels...",
            file=sys.stderr,
        )
    from hashing import KernelError, kernels
    from hashing.warm import warm

    try:
        for path in kernels.PATHS:  # a bad SURPLUS_HASH_KERNEL is said before compiling
            kernels.forced(path)
        compiled = warm()
    except KernelError as exc:
        print(f"surplus warm: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"kernels ready: {compiled} signatures in {time.perf_counter() - start:.1f}s")
        _show_choice()
    return 0


def _show_choice() -> None:
    """What was measured, fastest first, per path (one thread, headers or nonces/s)."""
    from hashing import choice, kernels

    record = choice.load()
    if record is None:
        print("no kernel choice recorded (numba caches nothing here): default order in use")
        return
    for path in kernels.PATHS:
        rates = sorted(record.rates.get(path, {}).items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{name} {rate / 1e6:.1f} M/s" for name, rate in rates)
        best = kernels.KERNELS[record.choice[path]]
        print(f"{path}: {best.name} ({best.about}); measured: {shown}")
