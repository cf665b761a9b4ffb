"""Reference SHA-256d built on hashlib: the oracle the numba kernels are tested against.

Slow (one Python call per header) but obviously right; used in tests and as the
benchmark's baseline, never on the pool's hot path.
"""

from __future__ import annotations

import hashlib

import numpy as np


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_int(header: bytes) -> int:
    """The header hash read as a little-endian 256-bit integer (how targets compare)."""
    return int.from_bytes(sha256d(header), "little")


def sha256d_headers(headers: np.ndarray) -> np.ndarray:
    out = np.empty((headers.shape[0], 32), dtype=np.uint8)
    for i in range(headers.shape[0]):
        out[i] = np.frombuffer(sha256d(headers[i].tobytes()), dtype=np.uint8)
    return out


def header_meets_target(header: bytes, target: int) -> bool:
    return hash_int(header) <= target


def scan_nonces(header76: bytes, target: int, start: int, count: int) -> list[int]:
    return [
        n
        for n in range(start, start + count)
        if hash_int(header76 + n.to_bytes(4, "little")) <= target
    ]
