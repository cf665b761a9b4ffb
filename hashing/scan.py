"""Nonce scans: CPU mining for emulated rigs and tests.

The first 64 header bytes do not change with the nonce, so their SHA-256 state (the
midstate) is computed once per scan and each nonce costs two compressions. The kernel is
the one `hashing.kernels` chose for the scan path.
"""

from __future__ import annotations

import numpy as np

from hashing import kernels
from hashing.targets import target_limbs

_MAX_NONCE = 1 << 32
_CAPACITY = 1024


def scan_nonces(header76: bytes, target: int, start: int, count: int) -> list[int]:
    """Nonces in [start, start + count) whose header (header76 + nonce LE) meets target."""
    if not isinstance(header76, (bytes, bytearray, memoryview)):
        raise ValueError(f"header76 must be 76 bytes, got {type(header76).__name__}")
    header76 = bytes(header76)
    if len(header76) != 76:
        raise ValueError(f"header76 must be 76 bytes, got {len(header76)}")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < _MAX_NONCE:
        raise ValueError(f"start must be an int in [0, 2**32), got {start!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if start + count > _MAX_NONCE:
        raise ValueError(f"start + count must not exceed 2**32, got {start + count}")
    limbs = target_limbs(target)
    scan = kernels.function("scan")
    header = np.frombuffer(bytearray(header76 + bytes(4)), dtype=np.uint8)
    found: list[int] = []
    buf = np.empty(_CAPACITY, dtype=np.uint32)
    pos, end = start, start + count
    while pos < end:
        n = scan(header, limbs, pos, end - pos, buf)
        if n <= _CAPACITY:
            found.extend(int(x) for x in buf[:n])
            break
        # More hits than the buffer holds (a very easy target): keep what fits and go on
        # after the last stored nonce.
        found.extend(int(x) for x in buf)
        pos = int(buf[-1]) + 1
    return found
