"""Coinbase building and the coinb1/coinb2 split."""

from __future__ import annotations

import pytest

from hashing import sha256d
from pool.bitcoin.merkle import witness_commitment_script
from pool.bitcoin.serialize import bip34_height, read_bip34_height
from pool.bitcoin.tx import Tx
from pool.jobs.coinbase import Payout, build_coinbase

MAIN = bytes.fromhex("00146f58bac9506f9bfb821d62e69330410bb56f0085")  # P2WPKH
FEE_SCRIPT = bytes.fromhex("76a914fdeca3b08e38af53d7c4c60e3ad208ce5066441088ac")  # P2PKH
COMMITMENT = witness_commitment_script(bytes(range(32)))
EN1 = bytes.fromhex("a1b2c3d4")


@pytest.mark.parametrize("height", [1, 16, 17, 127, 128, 32768, 8388608, 951658])
@pytest.mark.parametrize("en2_size", [2, 4, 8])
def test_split_assembles_a_valid_coinbase(height: int, en2_size: int) -> None:
    parts = build_coinbase(
        height,
        625_000_000,
        [Payout(MAIN)],
        tag=b"/surplus/",
        extranonce2_size=en2_size,
        witness_commitment=COMMITMENT,
    )
    en2 = bytes(range(1, en2_size + 1))
    raw = parts.assemble(EN1, en2)
    tx = Tx.parse(raw)
    assert tx.is_coinbase and not tx.has_witness
    script_sig = tx.inputs[0].script_sig
    assert script_sig.startswith(bip34_height(height))
    assert read_bip34_height(script_sig) == height
    # The extranonces sit inside one push right after the height, the tag after them.
    after_height = script_sig[len(bip34_height(height)) :]
    assert after_height[0] == 4 + en2_size
    assert after_height[1 : 1 + 4 + en2_size] == EN1 + en2
    assert after_height.endswith(b"/surplus/")
    assert 2 <= len(script_sig) <= 100
    assert [(o.script_pubkey, o.value) for o in tx.outputs] == [
        (MAIN, 625_000_000),
        (COMMITMENT, 0),
    ]
    assert parts.coinb1.endswith(bytes((4 + en2_size,)))
    assert sha256d(raw) == tx.txid


def test_fixed_payouts_and_remainder() -> None:
    parts = build_coinbase(
        500_000,
        312_500_000 + 12_345,
        [Payout(MAIN), Payout(FEE_SCRIPT, 1_000_000), Payout(b"\x51", 2)],
    )
    tx = Tx.parse(parts.assemble(EN1, bytes(8)))
    assert [o.value for o in tx.outputs] == [312_500_000 + 12_345 - 1_000_002, 1_000_000, 2]
    assert tx.total_out == 312_500_000 + 12_345
    assert [o.script_pubkey for o in tx.outputs] == [MAIN, FEE_SCRIPT, b"\x51"]


@pytest.mark.parametrize(
    ("payouts", "message"),
    [
        ([], "at least one payout"),
        ([Payout(MAIN), Payout(FEE_SCRIPT)], "exactly one payout"),
        ([Payout(MAIN, 5), Payout(FEE_SCRIPT, 6)], "exactly one payout"),
        ([Payout(MAIN), Payout(FEE_SCRIPT, 2_000)], "more than the coinbase value 1000"),
    ],
)
def test_bad_payouts(payouts: list[Payout], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_coinbase(1, 1_000, payouts)


def test_payout_validation() -> None:
    with pytest.raises(ValueError, match="empty"):
        Payout(b"")
    with pytest.raises(ValueError, match="negative"):
        Payout(MAIN, -1)


@pytest.mark.parametrize("size", [0, 1, 9, 16])
def test_extranonce2_size_bounds(size: int) -> None:
    with pytest.raises(ValueError, match=r"extranonce2 size must be 2\.\.8"):
        build_coinbase(1, 1, [Payout(MAIN)], extranonce2_size=size)


def test_script_sig_limit_of_100_bytes() -> None:
    # height push (5) + extranonce push (1 + 12) + tag push (2 + n, OP_PUSHDATA1 from 76
    # bytes on) <= 100  ->  n <= 80
    parts = build_coinbase(8388608, 1, [Payout(MAIN)], tag=b"x" * 80)
    assert len(Tx.parse(parts.assemble(EN1, bytes(8))).inputs[0].script_sig) == 100
    with pytest.raises(ValueError, match=r"101 bytes.*tag is 81 bytes, at most 80 fit"):
        build_coinbase(8388608, 1, [Payout(MAIN)], tag=b"x" * 81)


def test_no_tag_and_no_commitment() -> None:
    parts = build_coinbase(2, 50, [Payout(MAIN)])
    tx = Tx.parse(parts.assemble(EN1, bytes(8)))
    assert tx.inputs[0].script_sig == b"\x52" + b"\x0c" + EN1 + bytes(8)
    assert len(tx.outputs) == 1
