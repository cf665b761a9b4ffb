"""Batches shared with a helper thread: per-call times of 1 and 2 threads, by batch size.

    python benchmarks/hashing_threads.py [--sizes 1024,2048,4096,8192,65536] [--seconds 3]

Where benchmarks/hashing.py gives rates, this times every call: blocks of calls of the
chosen kernel alone, the API on one thread and the API on two alternate for a few
seconds per size, and the 10th percentile and the median of each are compared. On a
machine shared with other jobs the median says what a call usually gets; the 10th
percentile what it gets when the second core is free, which is close to what a quiet
machine gives throughout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hashing
from hashing import choice
from hashing.measure import SHARE_TARGET, batch_candidate

BLOCK = 16  # calls of one kind in a row: a helper spinning between calls stays hot


def per_call(modes: dict[str, Callable[[], object]], seconds: float) -> dict[str, np.ndarray]:
    """Seconds per call of each mode, BLOCK calls of each in turn for `seconds`."""
    times: dict[str, list[float]] = {m: [] for m in modes}
    for fn in modes.values():
        fn()
    clock = time.perf_counter
    end = clock() + seconds
    while clock() < end:
        for name, fn in modes.items():
            out = times[name]
            for _ in range(BLOCK):
                start = clock()
                fn()
                out.append(clock() - start)
    return {m: np.array(v) for m, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024,2048,4096,8192,65536")
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("needs two usable cores", file=sys.stderr)
        return 2
    kernel = choice.chosen("batch")
    print(f"kernel {kernel.name}; cores {cores}; {args.seconds:g} s per size; microseconds")
    print(f"{'batch':>7} {'kernel p10':>11} {'1t p10':>8} {'1t p50':>8} {'2t p10':>8} "
          f"{'2t p50':>8} {'2t/1t p10':>10} {'2t/1t p50':>10} {'api/kernel':>11}")  # fmt: skip
    rng = np.random.default_rng(1)
    summary = {}
    for n in (int(s) for s in args.sizes.split(",")):
        headers = rng.integers(0, 256, size=(n, 80), dtype=np.uint8)
        modes: dict[str, Callable[[], object]] = {
            "kernel": batch_candidate(kernel, headers),
            "1t": lambda h=headers: hashing.hash_meets_target(h, SHARE_TARGET, threads=1),
            "2t": lambda h=headers: hashing.hash_meets_target(h, SHARE_TARGET, threads=2),
        }
        t = per_call(modes, args.seconds)
        p10 = {m: float(np.percentile(v, 10)) for m, v in t.items()}
        p50 = {m: float(np.percentile(v, 50)) for m, v in t.items()}
        summary[n] = (p10["1t"] / p10["2t"], p50["1t"] / p50["2t"])
        print(f"{n:>7} {p10['kernel'] * 1e6:>11.1f} {p10['1t'] * 1e6:>8.1f} "
              f"{p50['1t'] * 1e6:>8.1f} {p10['2t'] * 1e6:>8.1f} {p50['2t'] * 1e6:>8.1f} "
              f"{summary[n][0]:>9.2f}x {summary[n][1]:>9.2f}x "
              f"{p10['1t'] / p10['kernel']:>11.3f}")  # fmt: skip
    print("hashing-threads: " + " ".join(
        f"speedup{n}_p10={a:.2f} speedup{n}_p50={b:.2f}" for n, (a, b) in summary.items()
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
