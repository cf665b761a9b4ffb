"""One header at a time: the fast path for a lone share, and SHA-256d of any bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hashing import choice, kernels
from hashing.targets import _cache as _limb_cache
from hashing.targets import target_limbs


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 of any bytes (coinbases, transactions, merkle nodes).

    hashlib (OpenSSL, itself SHA-NI accelerated) is the right tool for variable-length
    input; the numba kernels are for the fixed 80-byte header.
    """
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hashlib_meets(header: bytes, limbs) -> bool:
    """The `hashlib` kernel: OpenSSL's SHA-256 twice and an integer compare."""
    target = int.from_bytes(limbs.tobytes(), "little")
    return int.from_bytes(sha256d(header), "little") <= target


def entry(kernel: kernels.Kernel) -> Callable:
    """The kernel's single-header function as the cheapest callable (bytes, limbs) -> bool.

    For a compiled kernel that is its compiled entry point: it skips numba's per-call
    type dispatch, which costs more than hashing one header. The kernel is compiled for
    exactly one signature (bytes, uint32 (1, 8)).
    """
    fn = kernel.function("single")
    if not hasattr(fn, "overloads"):
        return fn
    fn(bytes(80), target_limbs(0))
    for sig, cres in fn.overloads.items():
        compiled = getattr(cres, "entry_point", None)  # numba's CompileResult, where it has one
        if str(sig[0]).startswith("readonly bytes") and compiled is not None:
            return compiled
    return fn


def _first_call(header: bytes, limbs) -> bool:
    global _kernel
    _kernel = entry(choice.chosen("single"))
    return _kernel(header, limbs)


def _forget() -> None:
    global _kernel
    _kernel = _first_call


_kernel: Callable = _first_call
choice.on_reset(_forget)


def _checked(header: bytes, target: int) -> bool:
    """header_meets_target for what the fast path does not take: validated, converted."""
    limbs = target_limbs(target)
    if not isinstance(header, (bytes, bytearray, memoryview)):
        raise ValueError(f"header must be 80 bytes, got {type(header).__name__}")
    header = bytes(header)
    if len(header) != 80:
        raise ValueError(f"header must be 80 bytes, got {len(header)}")
    return _kernel(header, limbs)


def _fast_path() -> Callable[[bytes, int], bool]:
    get, exact = _limb_cache.get, bytes  # closure cells: cheaper than global lookups

    def header_meets_target(header: bytes, target: int) -> bool:
        """Does sha256d(header), read as a little-endian 256-bit integer, not exceed target?

        Written for the per-call cost, which is most of the cost of one header: in the
        common case (80 bytes, a target seen before) one dict lookup and one call into
        compiled code; anything else goes through the checks of the slow path.
        """
        try:
            limbs = get(target)
        except TypeError:  # unhashable, so not an int: the slow path says so
            limbs = None
        if limbs is not None and type(header) is exact and len(header) == 80:
            return _kernel(header, limbs)
        return _checked(header, target)

    return header_meets_target


header_meets_target = _fast_path()
