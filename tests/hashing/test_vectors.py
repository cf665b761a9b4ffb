"""Real mainnet headers with their known hashes (each hash carries its own proof of work)."""

from __future__ import annotations

import numpy as np
import pytest

import hashing

# (name, header hex, block hash as displayed by explorers: byte-reversed digest)
MAINNET = [
    (
        "genesis",
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2"
        "7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    ),
    (
        "block 125552",
        "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d75"
        "0423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695",
        "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d",
    ),
    (
        "block 491133 (BIP9 version 0x20000000)",
        "00000020790dfd29a6eab5667c8bb42511b3c370d19b03fe9070c1000000000000000000ed32efbfafeb50a2"
        "9fa29f7838cb3019af23d5623d6e310bce43d50b8b9623776e86ec5930eb001884adf6b3",
        "000000000000000000185aaf82c613176413c407c061ba254f7ef5713d82078d",
    ),
    (
        "block 794143 (post-taproot, BIP310-rolled version 0x20800000)",
        "000080200e102b98a160f4416c8ff0198db9b177523525c9de8a000000000000000000003b9b941003024e1a"
        "fa90199732fdb1366a122ab0a5cacd3f7bcb8cb8815a811b560e8864697e051767c0c9fd",
        "0000000000000000000293bf6e86820d867cc4ca13cd98326af85bb3bebab9ac",
    ),
]

HEADERS = [bytes.fromhex(h) for _, h, _ in MAINNET]
DIGESTS = [bytes.fromhex(b)[::-1] for _, _, b in MAINNET]


def bits_target(header: bytes) -> int:
    bits = int.from_bytes(header[72:76], "little")
    return (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))


def test_rolled_version_is_really_rolled() -> None:
    version = int.from_bytes(HEADERS[3][:4], "little")
    assert version == 0x20800000
    assert version & 0x1FFFE000  # bits inside the BIP310 mask are set


@pytest.mark.parametrize("index", range(len(MAINNET)), ids=[m[0] for m in MAINNET])
def test_mainnet_header_hashes(index: int) -> None:
    header, digest = HEADERS[index], DIGESTS[index]
    assert hashing.sha256d(header) == digest
    got = hashing.sha256d_headers(np.frombuffer(header, dtype=np.uint8).reshape(1, 80))
    assert bytes(got[0]) == digest


def test_mainnet_batch_and_proof_of_work() -> None:
    batch = np.frombuffer(b"".join(HEADERS * 9), dtype=np.uint8).reshape(-1, 80)
    digests = hashing.sha256d_headers(batch)
    assert [bytes(d) for d in digests] == DIGESTS * 9
    # Every real block meets its own nBits target, and fails a target just below its hash.
    targets = [bits_target(h) for h in HEADERS]
    for header, digest, target in zip(HEADERS, DIGESTS, targets, strict=True):
        value = int.from_bytes(digest, "little")
        assert value <= target
        assert hashing.header_meets_target(header, target)
        assert hashing.header_meets_target(header, value)
        assert not hashing.header_meets_target(header, value - 1)
    per_row = np.stack(
        [np.frombuffer(t.to_bytes(32, "little"), dtype=np.uint8) for t in targets * 9]
    )
    assert hashing.hash_meets_target(batch, per_row).all()
