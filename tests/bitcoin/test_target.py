"""nBits, targets and difficulty, in exact integers."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from pool.bitcoin.target import (
    DIFF1_TARGET,
    MAX_TARGET,
    bits_to_difficulty,
    bits_to_target,
    difficulty_to_target,
    hash_difficulty,
    target_to_bits,
    target_to_difficulty,
)
from tests.vectors import load

# bitcoinjs-lib test/fixtures/block.json "targets"
BITCOINJS_TARGETS = [
    ("1d00ffff", "00000000ffff0000000000000000000000000000000000000000000000000000"),
    ("1b80ffff", "000000000000ffff000000000000000000000000000000000000000000000000"),
    ("1b0404cb", "00000000000404cb000000000000000000000000000000000000000000000000"),
    ("1814dd04", "000000000000000014dd04000000000000000000000000000000000000000000"),
    ("0cffca00", "00000000000000000000000000000000000000007fca00000000000000000000"),
    ("207fffff", "7fffff0000000000000000000000000000000000000000000000000000000000"),
]


def test_diff1_constant() -> None:
    assert DIFF1_TARGET == 0xFFFF << 208
    assert f"{DIFF1_TARGET:064x}" == "00000000ffff" + "0" * 52


@pytest.mark.parametrize(("bits", "target"), BITCOINJS_TARGETS)
def test_bits_to_target_vectors(bits: str, target: str) -> None:
    value = int(bits, 16)
    if value & 0x00800000:
        # bitcoinjs drops the sign bit; Bitcoin Core reads it as a negative target, which
        # fails proof of work, so here it is an error rather than a silently wrong target.
        with pytest.raises(ValueError, match="negative"):
            bits_to_target(value)
        assert bits_to_target(value & ~0x00800000) == int(target, 16)
    else:
        assert bits_to_target(value) == int(target, 16)


@pytest.mark.parametrize(
    "bits", [0x1D00FFFF, 0x1B0404CB, 0x1814DD04, 0x207FFFFF, 0x1702068F, 0x1A44B9F2]
)
def test_target_to_bits_round_trip(bits: int) -> None:
    assert target_to_bits(bits_to_target(bits)) == bits


def test_target_to_bits_normalises_sign_bit() -> None:
    # 0x80 in the top mantissa byte would read as negative: the exponent grows instead.
    assert target_to_bits(0x80) == 0x02008000
    assert bits_to_target(0x02008000) == 0x80


def test_bad_bits_raise() -> None:
    with pytest.raises(ValueError, match="negative"):
        bits_to_target(0x04923456)
    with pytest.raises(ValueError, match="overflows"):
        bits_to_target(0xFF123456)


def test_real_block_difficulty() -> None:
    block = load("mainnet_951658.json")
    # getblock reports 138955357012247.3 for this block
    assert abs(float(bits_to_difficulty(int(block["bits"], 16))) - 138955357012247.3) < 0.05
    assert bits_to_difficulty(0x1D00FFFF) == 1


@pytest.mark.parametrize("difficulty", [1, 2, 1000, 65536, 2**32])
def test_integer_difficulties(difficulty: int) -> None:
    assert difficulty_to_target(difficulty) == DIFF1_TARGET // difficulty


@pytest.mark.parametrize(
    ("difficulty", "expected"),
    [
        ("0.001", DIFF1_TARGET * 1000),
        (Fraction(1, 1000), DIFF1_TARGET * 1000),
        (Fraction(1, 65536), DIFF1_TARGET * 65536),
        (1 / 65536, DIFF1_TARGET * 65536),  # a power of two: exact as a float
        (Fraction(1, 3), DIFF1_TARGET * 3),
        ("0.5", DIFF1_TARGET * 2),
        (Decimal("0.001"), DIFF1_TARGET * 1000),
    ],
)
def test_fractional_difficulty_is_exact(difficulty: object, expected: int) -> None:
    assert difficulty_to_target(difficulty) == expected  # type: ignore[arg-type]


def test_float_difficulty_converts_exactly() -> None:
    # 0.001 as a float is slightly above 1/1000, so its target is a hair below 1000*diff1;
    # the result is floor(diff1 / float_value) computed without rounding.
    value = 0.001
    exact = Fraction(value)
    assert difficulty_to_target(value) == (DIFF1_TARGET * exact.denominator) // exact.numerator
    assert difficulty_to_target(value) <= DIFF1_TARGET * 1000


def test_tiny_difficulties_clamp_to_max_target() -> None:
    assert difficulty_to_target(Fraction(1, 2**32)) == DIFF1_TARGET << 32
    assert difficulty_to_target(2**-32) == DIFF1_TARGET << 32
    assert difficulty_to_target(Fraction(1, 2**33)) == MAX_TARGET  # would exceed 2**256-1
    assert difficulty_to_target("1e-30") == MAX_TARGET


def test_target_never_easier_than_asked() -> None:
    for difficulty in (Fraction(1, 7), Fraction(22, 7), Fraction(1_000_001, 3)):
        target = difficulty_to_target(difficulty)
        assert target_to_difficulty(target) >= difficulty
        assert target_to_difficulty(target + 1) < difficulty or target + 1 > MAX_TARGET


@pytest.mark.parametrize(
    "bad", [0, -1, "0", "abc", float("nan"), float("inf"), Decimal("NaN"), Decimal("-2")]
)
def test_bad_difficulty(bad: object) -> None:
    with pytest.raises(ValueError):
        difficulty_to_target(bad)  # type: ignore[arg-type]


def test_hash_difficulty_of_real_block() -> None:
    block = load("mainnet_951658.json")
    block_hash = bytes.fromhex(block["hash"])[::-1]
    achieved = hash_difficulty(block_hash)
    assert achieved >= bits_to_difficulty(int(block["bits"], 16))
