"""CompactSize, script numbers and the BIP34 height push."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool.bitcoin.serialize import (
    Reader,
    bip34_height,
    compact_size,
    decode_script_num,
    push_data,
    read_bip34_height,
    script_num,
)


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (252, "fc"),
        (253, "fdfd00"),
        (0xFFFF, "fdffff"),
        (0x10000, "fe00000100"),
        (0xFFFFFFFF, "feffffffff"),
        (0x100000000, "ff0000000001000000"),
    ],
)
def test_compact_size_boundaries(n: int, encoded: str) -> None:
    assert compact_size(n).hex() == encoded
    assert Reader(bytes.fromhex(encoded)).compact_size() == n


def test_compact_size_rejects_non_canonical_and_truncated() -> None:
    with pytest.raises(ValueError, match="non-canonical"):
        Reader(bytes.fromhex("fd1000")).compact_size()
    with pytest.raises(ValueError, match="truncated"):
        Reader(bytes.fromhex("fe0100")).compact_size()
    with pytest.raises(ValueError, match="negative"):
        compact_size(-1)


# Bitcoin Core's CScriptNum serialisation (src/test/scriptnum_tests.cpp semantics).
@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, ""),
        (1, "01"),
        (-1, "81"),
        (127, "7f"),
        (128, "8000"),
        (-128, "8080"),
        (255, "ff00"),
        (256, "0001"),
        (32767, "ff7f"),
        (32768, "008000"),
        (-32768, "008080"),
        (8388607, "ffff7f"),
        (8388608, "00008000"),
        (2**31 - 1, "ffffff7f"),
    ],
)
def test_script_num(n: int, encoded: str) -> None:
    assert script_num(n).hex() == encoded
    assert decode_script_num(bytes.fromhex(encoded)) == n


@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_script_num_round_trip(n: int) -> None:
    assert decode_script_num(script_num(n)) == n


# Heights 1-16 are OP_1..OP_16 (0x51..0x60), exactly as `CScript() << nHeight`.
@pytest.mark.parametrize("height", range(1, 17))
def test_bip34_small_heights_are_op_n(height: int) -> None:
    assert bip34_height(height) == bytes((0x50 + height,))
    assert read_bip34_height(bip34_height(height)) == height


@pytest.mark.parametrize(
    ("height", "encoded"),
    [
        (0, "00"),
        (17, "0111"),
        (18, "0112"),
        (19, "0113"),
        (20, "0114"),
        (127, "017f"),
        (128, "028000"),
        (255, "02ff00"),
        (256, "020001"),
        (32767, "02ff7f"),
        (32768, "03008000"),
        (8388607, "03ffff7f"),
        (8388608, "0400008000"),
        (500000, "0320a107"),
        (951658, "036a850e"),  # real mainnet coinbase (tests/vectors/mainnet_951658.json)
    ],
)
def test_bip34_heights(height: int, encoded: str) -> None:
    assert bip34_height(height).hex() == encoded
    assert read_bip34_height(bytes.fromhex(encoded) + b"tail") == height


def test_bip34_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        bip34_height(-1)


@pytest.mark.parametrize(
    ("size", "prefix"), [(0, "00"), (75, "4b"), (76, "4c4c"), (255, "4cff"), (256, "4d0001")]
)
def test_push_data_minimal(size: int, prefix: str) -> None:
    data = bytes(range(256))[:size] if size <= 256 else bytes(size)
    assert push_data(data).hex().startswith(prefix)
    assert push_data(data).endswith(data)
