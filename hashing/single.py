"""One header at a time: the fast path for a lone share, and SHA-256d of any bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hashing import cpu
from hashing.targets import _cache as _limb_cache
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


def _resolve() -> Callable:
    """The SHA-NI kernel's compiled entry point where the CPU has SHA-NI, else hashlib.

    Calling the compiled entry point directly skips numba's per-call type dispatch, which
    costs more than hashing one header; the kernel is compiled for exactly one signature
    (bytes, uint32 (1, 8)) here.
    """
    if not cpu.has_sha_ni():
        return _hashlib_meets
    from hashing import shani

    shani.header_meets(bytes(80), target_limbs(0))
    fn: Callable = shani.header_meets
    for sig, cres in shani.header_meets.overloads.items():
        entry = getattr(cres, "entry_point", None)  # numba's CompileResult, where it has one
        if str(sig[0]).startswith("readonly bytes") and entry is not None:
            fn = entry
    return fn


def _first_call(header: bytes, limbs) -> bool:
    global _kernel
    _kernel = _resolve()
    return _kernel(header, limbs)


_kernel: Callable = _first_call


def header_meets_target(header: bytes, target: int) -> bool:
    """Does sha256d(header), read as a little-endian 256-bit integer, not exceed target?

    Written for the per-call cost: one cache lookup and one call into compiled code in
    the common case (80 bytes, a target seen before).
    """
    limbs = _limb_cache.get(target)
    if limbs is None:
        limbs = target_limbs(target)
    if type(header) is not bytes or len(header) != 80:
        if not isinstance(header, (bytes, bytearray, memoryview)):
            raise ValueError(f"header must be 80 bytes, got {type(header).__name__}")
        if len(header) != 80:
            raise ValueError(f"header must be 80 bytes, got {len(header)}")
        header = bytes(header)
    return _kernel(header, limbs)
