"""Targets as the kernels take them: eight 32-bit limbs of a little-endian 256-bit integer."""

from __future__ import annotations

import sys

import numpy as np

MAX_TARGET = (1 << 256) - 1
_CACHE_SIZE = 4096
_cache: dict[int, np.ndarray] = {}


def target_limbs(target: int) -> np.ndarray:
    """uint32 (1, 8): limb j holds bits 32j..32j+31 of `target`.

    Shares of one session repeat the same target, so conversions are cached; a target
    above 2**256 - 1 is clamped (every hash meets it).
    """
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValueError(f"target must be an int, got {type(target).__name__}")
    limbs = _cache.get(target)
    if limbs is not None:
        return limbs
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    value = min(target, MAX_TARGET)
    limbs = np.frombuffer(value.to_bytes(32, "little"), dtype="<u4").astype(np.uint32)
    limbs = limbs.reshape(1, 8)  # shared and cached: callers must not write to it
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[target] = limbs
    return limbs


def target_rows(targets: np.ndarray, n: int) -> np.ndarray:
    """uint32 (n, 8) limbs from a uint8 (n, 32) array of little-endian targets."""
    if not isinstance(targets, np.ndarray):
        raise ValueError(
            f"targets must be an int or a numpy uint8 array of shape ({n}, 32), "
            f"got {type(targets).__name__}"
        )
    if targets.dtype != np.uint8:
        raise ValueError(f"targets must have dtype uint8, got {targets.dtype}")
    if targets.shape != (n, 32):
        raise ValueError(f"targets must have shape ({n}, 32), one per header, got {targets.shape}")
    # The kernels are compiled for one array type: writeable, aligned, native order. A
    # caller's array that is all that is used as it is; anything else is copied.
    if sys.byteorder == "little" and targets.flags.c_contiguous and targets.flags.writeable:
        limbs = targets.view(np.uint32)
        if limbs.flags.aligned:
            return limbs
    return np.ascontiguousarray(targets).view("<u4").astype(np.uint32)
