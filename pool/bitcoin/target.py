"""Targets, compact `nBits`, and pool difficulty.

Everything is an exact integer or Fraction: share targets at difficulties like 2**-32
exceed 2**256 - 1 and are clamped, and no float ever rounds a target the wrong way.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from numbers import Rational

DIFF1_TARGET = 0x00000000FFFF0000000000000000000000000000000000000000000000000000
MAX_TARGET = (1 << 256) - 1

Difficulty = int | float | Fraction | Decimal | str


def bits_to_target(bits: int) -> int:
    """Expand compact nBits to the target; negative or overflowing encodings raise,
    as Bitcoin Core treats them as invalid proof of work."""
    if not 0 <= bits <= 0xFFFFFFFF:
        raise ValueError(f"nBits out of range: {bits:#x}")
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if bits & 0x00800000 and mantissa:
        raise ValueError(f"nBits {bits:#010x} encodes a negative target")
    shift = 8 * (exponent - 3)
    target = mantissa << shift if shift >= 0 else mantissa >> -shift
    if target > MAX_TARGET:
        raise ValueError(f"nBits {bits:#010x} overflows 256 bits")
    return target


def target_to_bits(target: int) -> int:
    """Compact encoding of a target (Bitcoin Core's arith_uint256::GetCompact)."""
    if not 0 <= target <= MAX_TARGET:
        raise ValueError(f"target out of range: {target:#x}")
    size = (target.bit_length() + 7) // 8
    shift = 8 * (size - 3)
    compact = target >> shift if shift >= 0 else target << -shift
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return (size << 24) | compact


def as_fraction(difficulty: Difficulty) -> Fraction:
    """A difficulty as an exact Fraction. Floats convert exactly (0.001 becomes the
    binary value the float holds); pass a str like "0.001" or a Fraction for decimal
    exactness."""
    if isinstance(difficulty, bool):
        raise TypeError("difficulty must be a number, not bool")
    if isinstance(difficulty, Fraction):
        value = difficulty
    elif isinstance(difficulty, int | Rational):
        value = Fraction(difficulty)
    elif isinstance(difficulty, float | Decimal):
        if (
            not difficulty.is_finite()
            if isinstance(difficulty, Decimal)
            else (difficulty != difficulty or difficulty in (float("inf"), float("-inf")))
        ):
            raise ValueError(f"difficulty must be finite: {difficulty}")
        value = Fraction(difficulty)
    elif isinstance(difficulty, str):
        try:
            value = Fraction(difficulty)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"difficulty {difficulty!r} is not a number") from exc
    else:
        raise TypeError(f"difficulty must be a number, not {type(difficulty).__name__}")
    if value <= 0:
        raise ValueError(f"difficulty must be positive: {difficulty}")
    return value


def difficulty_to_target(difficulty: Difficulty) -> int:
    """Share target = diff1 / difficulty, rounded down, clamped to 2**256 - 1.

    Rounding down keeps the target never easier than the difficulty asked for."""
    d = as_fraction(difficulty)
    target = (DIFF1_TARGET * d.denominator) // d.numerator
    return min(target, MAX_TARGET)


def target_to_difficulty(target: int) -> Fraction:
    """Exact difficulty of a target (diff1 / target)."""
    if target <= 0:
        raise ValueError(f"target must be positive: {target}")
    return Fraction(DIFF1_TARGET, target)


def bits_to_difficulty(bits: int) -> Fraction:
    return target_to_difficulty(bits_to_target(bits))


def hash_to_int(block_hash: bytes) -> int:
    """A header digest (internal byte order) as the integer compared with targets."""
    return int.from_bytes(block_hash, "little")


def hash_difficulty(block_hash: bytes) -> Fraction:
    """The difficulty a header hash achieved (what a share is worth); infinite hashes
    (all zero) are reported as diff1 * 2**256."""
    value = hash_to_int(block_hash)
    if value == 0:
        return Fraction(DIFF1_TARGET << 256)
    return Fraction(DIFF1_TARGET, value)
