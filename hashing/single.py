"""One header at a time: the fast path for a lone share, and SHA-256d of any bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hashing import cpu
from hashing.targets import target_limbs


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 of any bytes (coinbases, transactions, merkle nodes).

    hashlib (OpenSSL, itself SHA-NI accelerated) is the right tool for variable-length
    input; the numba kernels are for the fixed 80-byte header.
    """
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _hashlib_meets(header: bytes, limbs) -> bool:
    target = int.from_bytes(limbs.tobytes(), "little")
    return int.from_bytes(sha256d(header), "little") <= target


_single: Callable | None = None


def _resolve() -> Callable:
    """The SHA-NI kernel's compiled entry point where the CPU has SHA-NI, else hashlib.

    Calling the compiled entry point directly skips numba's per-call type dispatch, which
    costs more than hashing one header; the kernel is compiled for exactly one signature
    (bytes, uint32 (1, 8)) here.
    """
    global _single
    if _single is not None:
        return _single
    if not cpu.has_sha_ni():
        _single = _hashlib_meets
        return _single
    from hashing import shani

    limbs = target_limbs(0)
    shani.header_meets(bytes(80), limbs)
    fn: Callable = shani.header_meets
    for sig, cres in shani.header_meets.overloads.items():
        if str(sig[0]).startswith("readonly bytes") and hasattr(cres, "entry_point"):
            fn = cres.entry_point
    _single = fn
    return fn


def header_meets_target(header: bytes, target: int) -> bool:
    """Does sha256d(header), read as a little-endian 256-bit integer, not exceed target?"""
    if type(header) is not bytes:
        if not isinstance(header, (bytes, bytearray, memoryview)):
            raise ValueError(f"header must be 80 bytes, got {type(header).__name__}")
        header = bytes(header)
    if len(header) != 80:
        raise ValueError(f"header must be 80 bytes, got {len(header)}")
    return bool((_single or _resolve())(header, target_limbs(target)))
