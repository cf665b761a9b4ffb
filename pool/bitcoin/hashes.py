"""Hash functions over bytes, and the hex conventions of block and transaction ids.

Ids are shown byte-reversed (RPC "display" order) but live in headers and merkle trees
in internal order; these functions are the one place that flips them.

Everything here is hashlib (OpenSSL, itself SHA-NI accelerated where the CPU has it): the
right tool for variable-length input, and free of numba, so parsing an address or a
block does not compile or load a kernel. The numba batch kernels for 80-byte headers
are `hashing`'s, imported by the share validator alone.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash160", "id_from_hex", "id_to_hex", "sha256", "sha256d"]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 of any bytes (coinbases, transactions, merkle nodes, checksums)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", sha256(data)).digest()


def id_to_hex(internal: bytes) -> str:
    """Internal-order hash -> RPC display hex (byte-reversed)."""
    if len(internal) != 32:
        raise ValueError(f"a hash is 32 bytes, got {len(internal)}")
    return internal[::-1].hex()


def id_from_hex(display: str) -> bytes:
    """RPC display hex -> internal-order bytes."""
    try:
        raw = bytes.fromhex(display)
    except ValueError as exc:
        raise ValueError(f"hash {display!r} is not hex") from exc
    if len(raw) != 32:
        raise ValueError(f"hash {display!r} is not 32 bytes")
    return raw[::-1]
