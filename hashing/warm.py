"""Compile (or load from the on-disk cache) every kernel for every argument type used.

Each kernel is compiled for exactly one signature because the public functions
normalise their arguments (C-contiguous, writeable, native order) before calling it.
A cold cache costs minutes of LLVM time, mostly in the two unrolled kernels; they are
independent, so `warm()` compiles them in separate processes, one per core, and then
loads the cached results here in well under a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import hashing
from hashing import cpu


def _batch() -> None:
    headers = np.zeros((2 * 16 + 3, 80), dtype=np.uint8)
    hashing.sha256d_headers(headers, threads=1)
    hashing.hash_meets_target(headers, 1 << 255, threads=1)
    hashing.hash_meets_target(headers, np.zeros((headers.shape[0], 32), np.uint8), threads=1)


def _scan() -> None:
    hashing.scan_nonces(bytes(76), 1 << 250, 0, 64)


def _single() -> None:
    hashing.header_meets_target(bytes(80), 1)


GROUPS: dict[str, Callable[[], None]] = {"batch": _batch, "scan": _scan, "single": _single}


def warm_group(name: str) -> None:
    GROUPS[name]()


def is_cached() -> bool:
    """Are both unrolled kernels in numba's on-disk cache (as far as the index files say)?"""
    cache = Path(hashing.__file__).parent / "__pycache__"
    return all(any(cache.glob(f"_sha256_unrolled.{k}-*.nbi")) for k in ("hash_batch", "scan"))


def warm(parallel: bool | None = None) -> int:
    """Run every kernel once; returns how many kernel signatures are ready.

    parallel: compile the kernel groups in child processes first (default: when the
    machine has more than one core).
    """
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and not is_cached()
    if parallel:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", f"from hashing.warm import warm_group; warm_group({g!r})"]
            )
            for g in GROUPS
        ]
        failed = [g for g, c in zip(GROUPS, children, strict=True) if c.wait() != 0]
        if failed:
            raise RuntimeError(f"compiling kernel groups failed: {', '.join(failed)}")
    for group in GROUPS.values():
        group()
    from hashing._sha256_unrolled import hash_batch, scan

    count = len(hash_batch.signatures) + len(scan.signatures)
    if cpu.has_sha_ni():
        from hashing import shani

        count += len(shani.hash_rows.signatures) + len(shani.header_meets.signatures)
    return count
