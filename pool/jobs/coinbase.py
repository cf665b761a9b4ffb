"""The coinbase transaction and its split around the extranonces.

Layout of the scriptSig: BIP34 height push, then one push opcode covering
extranonce1 + extranonce2 (so the script still parses as pushes), then the pool tag.
coinb1 ends right after that push opcode; coinb2 starts with the tag push. Both halves
are the non-witness serialisation, which is what the txid and the merkle root use.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pool.bitcoin.serialize import bip34_height, compact_size, push_data

COINBASE_VERSION = 2
MIN_SCRIPT_SIG = 2
MAX_SCRIPT_SIG = 100
MIN_EXTRANONCE2 = 2
MAX_EXTRANONCE2 = 8
_NULL_PREVOUT = bytes(32) + b"\xff\xff\xff\xff"
_SEQUENCE_FINAL = b"\xff\xff\xff\xff"


@dataclass(frozen=True, slots=True)
class Payout:
    """One coinbase output. `amount=None` marks the main payout, which receives what
    is left of the coinbase value after the fixed amounts."""

    script: bytes
    amount: int | None = None

    def __post_init__(self) -> None:
        if not self.script:
            raise ValueError("payout scriptPubKey is empty")
        if self.amount is not None and self.amount < 0:
            raise ValueError(f"payout amount cannot be negative: {self.amount}")


@dataclass(frozen=True, slots=True)
class CoinbaseParts:
    coinb1: bytes
    coinb2: bytes
    outputs: tuple[tuple[bytes, int], ...]  # (scriptPubKey, value) in output order

    def assemble(self, extranonce1: bytes, extranonce2: bytes) -> bytes:
        return self.coinb1 + extranonce1 + extranonce2 + self.coinb2


def _max_tag(room: int) -> int:
    """Longest tag whose push fits in `room` scriptSig bytes."""
    return max(0, room - 1 if room - 1 < 0x4C else room - 2)


def resolve_payouts(payouts: Sequence[Payout], coinbase_value: int) -> list[tuple[bytes, int]]:
    """Give each output its value: fixed amounts as asked, the rest to the main payout."""
    if not payouts:
        raise ValueError("a coinbase needs at least one payout output")
    mains = [p for p in payouts if p.amount is None]
    if len(mains) != 1:
        raise ValueError(
            f"exactly one payout must take the remainder (amount=None), got {len(mains)}"
        )
    fixed = sum(p.amount for p in payouts if p.amount is not None)
    remainder = coinbase_value - fixed
    if remainder < 0:
        raise ValueError(
            f"fixed payouts total {fixed} sat, more than the coinbase value {coinbase_value}"
        )
    return [(p.script, remainder if p.amount is None else p.amount) for p in payouts]


def serialize_outputs(outputs: Sequence[tuple[bytes, int]]) -> bytes:
    out = bytearray(compact_size(len(outputs)))
    for script, value in outputs:
        out += struct.pack("<q", value) + compact_size(len(script)) + script
    return bytes(out)


def build_coinbase(
    height: int,
    coinbase_value: int,
    payouts: Sequence[Payout],
    *,
    tag: bytes = b"",
    extranonce1_size: int = 4,
    extranonce2_size: int = 8,
    witness_commitment: bytes | None = None,
    version: int = COINBASE_VERSION,
    locktime: int = 0,
) -> CoinbaseParts:
    """Build coinb1/coinb2 for one template and payout set.

    `witness_commitment` is the full scriptPubKey of the commitment output
    (6a24aa21a9ed + 32 bytes); it goes last, with value zero."""
    if not MIN_EXTRANONCE2 <= extranonce2_size <= MAX_EXTRANONCE2:
        raise ValueError(
            f"extranonce2 size must be {MIN_EXTRANONCE2}..{MAX_EXTRANONCE2} bytes, "
            f"got {extranonce2_size}"
        )
    if not 1 <= extranonce1_size <= 8:
        raise ValueError(f"extranonce1 size must be 1..8 bytes, got {extranonce1_size}")
    height_push = bip34_height(height)
    extranonce_total = extranonce1_size + extranonce2_size
    tag_push = push_data(tag) if tag else b""
    script_len = len(height_push) + 1 + extranonce_total + len(tag_push)
    if not MIN_SCRIPT_SIG <= script_len <= MAX_SCRIPT_SIG:
        raise ValueError(
            f"coinbase scriptSig would be {script_len} bytes (allowed "
            f"{MIN_SCRIPT_SIG}..{MAX_SCRIPT_SIG}); the tag is {len(tag)} bytes, "
            f"at most {_max_tag(MAX_SCRIPT_SIG - (script_len - len(tag_push)))} fit"
        )
    outputs = resolve_payouts(payouts, coinbase_value)
    if witness_commitment is not None:
        outputs.append((witness_commitment, 0))
    coinb1 = (
        struct.pack("<i", version)
        + b"\x01"
        + _NULL_PREVOUT
        + compact_size(script_len)
        + height_push
        + bytes((extranonce_total,))
    )
    coinb2 = tag_push + _SEQUENCE_FINAL + serialize_outputs(outputs) + struct.pack("<I", locktime)
    return CoinbaseParts(coinb1, coinb2, tuple(outputs))
