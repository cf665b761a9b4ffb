"""The portable lane kernel, the SHA-NI path and the thread split agree; inputs are checked."""

from __future__ import annotations

import numpy as np
import pytest

import hashing
from hashing import batch, cpu, reference, single
from hashing._sha256_unrolled import hash_batch
from hashing.gen_unrolled import TARGET, generate
from hashing.targets import target_limbs, target_rows

ZEROS = np.zeros((2, 80), np.uint8)


def random_batch(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 80), dtype=np.uint8)


def run(headers: np.ndarray, sha_ni: bool) -> tuple[np.ndarray, np.ndarray]:
    n = headers.shape[0]
    digests = np.zeros((n, 32), np.uint8)
    meets = np.zeros(n, np.bool_)
    values = [reference.hash_int(bytes(r)) for r in headers]
    targets = target_rows(
        np.array([list(v.to_bytes(32, "little")) for v in values], np.uint8).reshape(n, 32), n
    )
    batch._run_range(headers, targets, digests, np.zeros(0, np.bool_), 0, n, sha_ni)
    batch._run_range(headers, targets, np.zeros((0, 32), np.uint8), meets, 0, n, sha_ni)
    return digests, meets


def test_generated_kernel_is_up_to_date() -> None:
    assert TARGET.read_text() == generate(), "run: python -m hashing.gen_unrolled"


def test_portable_path_matches_hashlib() -> None:
    headers = random_batch(16 * 5 + 7)
    digests, meets = run(headers, sha_ni=False)
    assert np.array_equal(digests, reference.sha256d_headers(headers))
    assert meets.all()


def test_sha_ni_path_matches_portable_path() -> None:
    """Where the CPU has SHA-NI its kernel agrees with the portable one; elsewhere the
    single-header path must have fallen back to hashlib."""
    if not cpu.has_sha_ni():
        assert single._resolve() is single._hashlib_meets
        return
    from hashing import shani

    headers = random_batch(16 * 3 + 13, seed=5)
    pairs = zip(run(headers, True), run(headers, False), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    # The SHA-NI kernel alone, over whole batches (not just tails).
    n = headers.shape[0]
    digests = np.zeros((n, 32), np.uint8)
    shani.hash_rows(headers, target_limbs(0), digests, np.zeros(0, np.bool_), 0, n)
    assert np.array_equal(digests, reference.sha256d_headers(headers))
    for row in headers[:20]:
        value = reference.hash_int(bytes(row))
        assert shani.header_meets(bytes(row), target_limbs(value))
        assert not shani.header_meets(bytes(row), target_limbs(value - 1))


def test_hashlib_fallback_for_single_headers() -> None:
    for row in random_batch(20, seed=9):
        value = reference.hash_int(bytes(row))
        assert single._hashlib_meets(bytes(row), target_limbs(value))
        assert not single._hashlib_meets(bytes(row), target_limbs(value - 1))


def test_strided_and_read_only_inputs_need_no_new_compile() -> None:
    headers = random_batch(64)
    hashing.sha256d_headers(headers)
    before = len(hash_batch.signatures)
    strided = np.zeros((64, 160), np.uint8)
    strided[:, ::2] = headers
    view = strided[:, ::2]
    assert not view.flags.c_contiguous
    readonly = np.frombuffer(headers.tobytes(), dtype=np.uint8).reshape(64, 80)
    assert not readonly.flags.writeable
    expect = reference.sha256d_headers(headers)
    for arr in (view, readonly, headers[::-1][::-1], headers[10:40]):
        got = hashing.sha256d_headers(arr)
        assert np.array_equal(got, reference.sha256d_headers(np.ascontiguousarray(arr)))
    assert np.array_equal(hashing.sha256d_headers(readonly), expect)
    assert hashing.hash_meets_target(readonly, (1 << 256) - 1).all()
    assert len(hash_batch.signatures) == before


def test_empty_batches() -> None:
    empty = np.zeros((0, 80), np.uint8)
    assert hashing.sha256d_headers(empty).shape == (0, 32)
    assert hashing.hash_meets_target(empty, 5).shape == (0,)
    assert hashing.hash_meets_target(empty, np.zeros((0, 32), np.uint8)).shape == (0,)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hashing.sha256d_headers([[0] * 80]), "numpy uint8 array"),
        (lambda: hashing.sha256d_headers(np.zeros((2, 80), np.int32)), "dtype uint8"),
        (lambda: hashing.sha256d_headers(np.zeros((2, 79), np.uint8)), r"shape \(N, 80\)"),
        (lambda: hashing.sha256d_headers(np.zeros(80, np.uint8)), r"shape \(N, 80\)"),
        (lambda: hashing.hash_meets_target(np.zeros((2, 80), np.uint8), -1), ">= 0"),
        (lambda: hashing.hash_meets_target(np.zeros((2, 80), np.uint8), 1.5), "int or a numpy"),
        (
            lambda: hashing.hash_meets_target(ZEROS, np.zeros((3, 32), np.uint8)),
            r"shape \(2, 32\)",
        ),
        (
            lambda: hashing.hash_meets_target(ZEROS, np.zeros((2, 32), np.int8)),
            "dtype uint8",
        ),
        (lambda: hashing.header_meets_target(bytes(79), 1), "80 bytes, got 79"),
        (lambda: hashing.header_meets_target("00" * 80, 1), "80 bytes, got str"),
        (lambda: hashing.header_meets_target(bytes(80), -5), ">= 0"),
        (lambda: hashing.scan_nonces(bytes(75), 1, 0, 1), "76 bytes, got 75"),
        (lambda: hashing.scan_nonces(bytes(76), 1, 0, -1), "non-negative"),
        (lambda: hashing.scan_nonces(bytes(76), 1, -1, 1), r"\[0, 2\*\*32\)"),
        (lambda: hashing.scan_nonces(bytes(76), 1, 2**32 - 1, 2), "must not exceed"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_sha256d_any_length() -> None:
    for n in (0, 1, 55, 56, 63, 64, 65, 80, 1000):
        data = bytes(range(256)) * 4
        assert hashing.sha256d(data[:n]) == reference.sha256d(data[:n])
