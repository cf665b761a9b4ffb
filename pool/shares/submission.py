"""Parsing the params of mining.submit into integers and raw bytes.

Stratum sends ntime, nonce and version bits as big-endian hex of the 32-bit values; they
are byte-swapped into the header later (Job.header packs them little-endian). Extranonce2
is raw bytes in header order and must be exactly the size the session announced.
Every malformed field is error 20 naming the field, never a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pool.protocol import ErrorCode, StratumError


class ShareRejected(StratumError):
    """A share the pool refuses; `code` is the Stratum error code sent back."""


@dataclass(frozen=True, slots=True)
class Submission:
    worker: str
    job_id: str
    extranonce2: bytes
    ntime: int
    nonce: int
    version_bits: int | None  # the sixth param (BIP310), None when absent


def _hex32(value: object, field: str) -> int:
    """Exactly 8 hex digits, big-endian; rejects 0x prefixes, signs and underscores."""
    if not isinstance(value, str) or len(value) != 8:
        raise ShareRejected(ErrorCode.OTHER, f"{field} must be 8 hex characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 4:
        raise ShareRejected(ErrorCode.OTHER, f"{field} is not hex: {value!r}")
    return int.from_bytes(raw, "big")


def parse_submit(params: list[Any], extranonce2_size: int) -> Submission:
    """mining.submit params -> Submission, or ShareRejected(20) naming the bad field.

    params: [worker, job_id, extranonce2, ntime, nonce] (+ [version_bits])."""
    if len(params) not in (5, 6):
        raise ShareRejected(
            ErrorCode.OTHER, f"mining.submit takes 5 or 6 params, got {len(params)}"
        )
    worker, job_id, en2_hex = params[0], params[1], params[2]
    if not isinstance(worker, str):
        raise ShareRejected(ErrorCode.OTHER, "worker name must be a string")
    if not isinstance(job_id, str):
        raise ShareRejected(ErrorCode.OTHER, "job id must be a string")
    if not isinstance(en2_hex, str):
        raise ShareRejected(ErrorCode.OTHER, "extranonce2 must be a hex string")
    if len(en2_hex) != 2 * extranonce2_size:
        raise ShareRejected(
            ErrorCode.OTHER,
            f"extranonce2 must be {extranonce2_size} bytes ({2 * extranonce2_size} hex), "
            f"got {len(en2_hex)} hex characters",
        )
    try:
        extranonce2 = bytes.fromhex(en2_hex)
    except ValueError:
        raise ShareRejected(ErrorCode.OTHER, "extranonce2 is not hex") from None
    if len(extranonce2) != extranonce2_size:  # fromhex skips spaces
        raise ShareRejected(ErrorCode.OTHER, "extranonce2 is not hex")
    ntime_hex, nonce_hex = params[3], params[4]
    try:  # the fast path; any oddity falls through to the field-by-field checks
        fields = bytes.fromhex(ntime_hex + nonce_hex)
    except (TypeError, ValueError):
        fields = b""
    if len(fields) == 8 and len(ntime_hex) == 8 and len(nonce_hex) == 8:
        ntime = int.from_bytes(fields[:4], "big")
        nonce = int.from_bytes(fields[4:], "big")
    else:
        ntime = _hex32(ntime_hex, "ntime")
        nonce = _hex32(nonce_hex, "nonce")
    version_bits = _hex32(params[5], "version bits") if len(params) == 6 else None
    return Submission(worker, job_id, extranonce2, ntime, nonce, version_bits)
