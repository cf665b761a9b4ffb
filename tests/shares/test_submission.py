"""Parsing mining.submit: big-endian hex fields, exact extranonce2 length, named errors."""

from __future__ import annotations

import pytest

import hashing
from pool.jobs.job import Job
from pool.protocol import ErrorCode
from pool.shares.submission import ShareRejected, Submission, parse_submit

GENESIS_COINBASE = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04"
    "ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20"
    "6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01"
    "000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c"
    "ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def test_parse_values_are_big_endian_hex():
    sub = parse_submit(["w", "1a", "0001020304050607", "5f5e1000", "0000002a"], 8)
    assert sub == Submission("w", "1a", bytes(range(8)), 0x5F5E1000, 42, None)
    sub = parse_submit(["w", "1a", "0001020304050607", "5F5E1000", "0000002A", "1fffe000"], 8)
    assert sub.version_bits == 0x1FFFE000 and sub.nonce == 42


def test_genesis_block_rebuilt_from_a_submission():
    """A real vector end to end: the genesis coinbase split around extranonce1/2, the
    header rebuilt from mining.submit fields (byte-swapped) hashes to the genesis hash."""
    # scriptSig starts at byte 42; cut extranonce1 (4) + extranonce2 (8) out of it
    en1 = GENESIS_COINBASE[50:54]
    en2 = GENESIS_COINBASE[54:62]
    job = Job(
        job_id="0", height=0, prevhash=bytes(32), version=1, nbits=0x1D00FFFF,
        ntime=0x495FAB29, min_time=0x495FAB29, network_target=0xFFFF << 208,
        coinb1=GENESIS_COINBASE[:50], coinb2=GENESIS_COINBASE[62:], merkle_branch=(),
        transactions=(), witness_commitment=None, coinbase_value=50 * 10**8,
        clean_jobs=True, created=0.0,
    )
    sub = parse_submit(["w", "0", en2.hex(), "495fab29", "7c2bac1d"], 8)
    header = job.header(en1, sub.extranonce2, sub.ntime, sub.nonce, job.version)
    assert hashing.sha256d(header)[::-1].hex() == GENESIS_HASH
    assert header[68:72] == bytes.fromhex("495fab29")[::-1]
    assert header[76:80] == bytes.fromhex("7c2bac1d")[::-1]
    assert hashing.header_meets_target(header, job.network_target)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        (["w", "1", "00" * 8, "00000000"], "5 or 6 params"),
        (["w", "1", "00" * 8, "00000000", "00000000", "0", "x"], "5 or 6 params"),
        (["w", 1, "00" * 8, "00000000", "00000000"], "job id must be a string"),
        ([None, "1", "00" * 8, "00000000", "00000000"], "worker name"),
        (["w", "1", 5, "00000000", "00000000"], "extranonce2 must be a hex"),
        (["w", "1", "00" * 4, "00000000", "00000000"], "must be 8 bytes"),
        (["w", "1", "gg" * 8, "00000000", "00000000"], "extranonce2 is not hex"),
        (["w", "1", "00 00 00 00 0000", "00000000", "00000000"], "not hex"),
        (["w", "1", "00" * 8, "000000000", "00000000"], "ntime must be 8 hex"),
        (["w", "1", "00" * 8, "-0000001", "00000000"], "ntime is not hex"),
        (["w", "1", "00" * 8, "00000000", "0x000001"], "nonce is not hex"),
        (["w", "1", "00" * 8, "00000000", " 0000001"], "nonce is not hex"),
        (["w", "1", "00" * 8, "00000000", "00000000", "1fffe00"], "version bits must be"),
        (["w", "1", "00" * 8, "00000000", "00000000", 0x1FFFE000], "version bits must be"),
    ],
)
def test_malformed_fields_are_error_20(params, needle):
    with pytest.raises(ShareRejected, match=needle) as info:
        parse_submit(params, 8)
    assert info.value.code == ErrorCode.OTHER
    assert info.value.as_list()[0] == 20 and info.value.as_list()[2] is None


@pytest.mark.parametrize("size", [2, 4, 8])
def test_extranonce2_length_is_exact(size):
    assert parse_submit(["w", "1", "ab" * size, "00000000", "00000000"], size).extranonce2 == (
        b"\xab" * size
    )
    for wrong in (size - 1, size + 1):
        with pytest.raises(ShareRejected, match=f"must be {size} bytes"):
            parse_submit(["w", "1", "ab" * wrong, "00000000", "00000000"], size)
