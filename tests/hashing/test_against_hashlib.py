"""The kernels against hashlib: random headers, every small batch size, exact boundaries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import hashing
from hashing import reference

headers_strategy = st.lists(st.binary(min_size=80, max_size=80), min_size=0, max_size=40)


def as_array(headers: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(len(headers), 80)


def le_rows(values: list[int]) -> np.ndarray:
    return np.array(
        [list(v.to_bytes(32, "little")) for v in values], dtype=np.uint8
    ).reshape(len(values), 32)


@settings(max_examples=60, deadline=None)
@given(headers_strategy)
def test_digests_match_hashlib(headers: list[bytes]) -> None:
    got = hashing.sha256d_headers(as_array(headers))
    assert got.shape == (len(headers), 32)
    assert [bytes(d) for d in got] == [reference.sha256d(h) for h in headers]


@settings(max_examples=60, deadline=None)
@given(headers_strategy, st.integers(min_value=0, max_value=(1 << 256) - 1))
def test_shared_target_matches_hashlib(headers: list[bytes], target: int) -> None:
    got = hashing.hash_meets_target(as_array(headers), target)
    assert got.tolist() == [reference.hash_int(h) <= target for h in headers]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=80, max_size=80), st.integers(-2, 2)), max_size=40))
def test_per_row_targets_at_the_boundary(rows: list[tuple[bytes, int]]) -> None:
    """Targets equal to the hash, and a few either side of it, row by row."""
    headers = [h for h, _ in rows]
    targets = [max(0, reference.hash_int(h) + d) for h, d in rows]
    got = hashing.hash_meets_target(as_array(headers), le_rows(targets))
    pairs = zip(headers, targets, strict=True)
    assert got.tolist() == [reference.hash_int(h) <= t for h, t in pairs]
    for h in headers:
        value = reference.hash_int(h)
        assert hashing.header_meets_target(h, value)
        assert value == 0 or not hashing.header_meets_target(h, value - 1)


def test_every_batch_size_0_to_70() -> None:
    rng = np.random.default_rng(7)
    for n in range(71):
        batch = rng.integers(0, 256, size=(n, 80), dtype=np.uint8)
        expect = [reference.sha256d(bytes(r)) for r in batch]
        assert [bytes(d) for d in hashing.sha256d_headers(batch)] == expect, n
        values = [int.from_bytes(e, "little") for e in expect]
        # Half the rows get their exact hash as target, half one below.
        targets = [v if i % 2 == 0 else v - 1 for i, v in enumerate(values)]
        got = hashing.hash_meets_target(batch, le_rows(targets))
        assert got.tolist() == [i % 2 == 0 for i in range(n)], n


def test_large_batches_single_and_multi_threaded() -> None:
    rng = np.random.default_rng(11)
    batch = rng.integers(0, 256, size=(9001, 80), dtype=np.uint8)
    expect = reference.sha256d_headers(batch)
    one = hashing.sha256d_headers(batch, threads=1)
    two = hashing.sha256d_headers(batch, threads=2)
    auto = hashing.sha256d_headers(batch)
    assert np.array_equal(one, expect)
    assert np.array_equal(two, expect)
    assert np.array_equal(auto, expect)
    target = int(np.median([reference.hash_int(bytes(r)) for r in batch[:501]]))
    meets = [reference.hash_int(bytes(r)) <= target for r in batch]
    assert hashing.hash_meets_target(batch, target, threads=2).tolist() == meets
    assert hashing.hash_meets_target(batch, target, threads=1).tolist() == meets


def test_scan_nonces_matches_reference() -> None:
    header76 = bytes(range(76))
    target = 1 << 250  # one hit in 64 on average
    for start, count in [(0, 0), (0, 1), (5, 100), (1000, 3000), (2**32 - 37, 37)]:
        got = hashing.scan_nonces(header76, target, start, count)
        assert got == reference.scan_nonces(header76, target, start, count), (start, count)
        for n in got:
            assert hashing.header_meets_target(header76 + n.to_bytes(4, "little"), target)


def test_scan_nonces_easy_target_overflows_its_buffer() -> None:
    """With a target every hash meets, every nonce is returned, in order."""
    got = hashing.scan_nonces(bytes(76), (1 << 256) - 1, 10, 5000)
    assert got == list(range(10, 5010))


def test_scan_finds_the_real_nonce_of_block_125552() -> None:
    header = bytes.fromhex(
        "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d75"
        "0423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695"
    )
    nonce = int.from_bytes(header[76:], "little")
    bits = int.from_bytes(header[72:76], "little")
    target = (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))
    assert hashing.scan_nonces(header[:76], target, nonce - 500, 1000) == [nonce]
