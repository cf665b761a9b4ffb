"""Compile (or load from the on-disk cache) every kernel for every argument type used.

Each kernel is compiled for exactly one signature because the public functions
normalise their arguments (C-contiguous, writeable, native order) before calling it.
"""

from __future__ import annotations

import numpy as np

import hashing
from hashing import cpu


def warm() -> int:
    """Run every kernel once; returns how many kernel signatures are ready."""
    headers = np.zeros((2 * 16 + 3, 80), dtype=np.uint8)
    hashing.sha256d_headers(headers, threads=1)
    hashing.hash_meets_target(headers, 1 << 255, threads=1)
    hashing.hash_meets_target(headers, np.zeros((headers.shape[0], 32), np.uint8), threads=1)
    hashing.header_meets_target(bytes(80), 1)
    hashing.scan_nonces(bytes(76), 1 << 250, 0, 64)
    count = 2
    if cpu.has_sha_ni():
        from hashing import shani

        count += len(shani.hash_rows.overloads) + len(shani.header_meets.overloads)
    return count
