"""Test data for the kernels: random headers, targets as rows, their hashes as ints."""

from __future__ import annotations

import numpy as np

from hashing import reference


def random_headers(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 80), dtype=np.uint8)


def le_rows(values: list[int]) -> np.ndarray:
    """uint8 (N, 32): each value as a little-endian 256-bit target."""
    return np.array([list(v.to_bytes(32, "little")) for v in values], dtype=np.uint8).reshape(
        len(values), 32
    )


def hash_ints(headers: np.ndarray) -> list[int]:
    return [reference.hash_int(bytes(r)) for r in headers]
