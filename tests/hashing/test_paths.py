"""The dispatch around the kernels: argument normalisation, thread split, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import hashing
from hashing import batch, choice, cpu, reference, single, workers
from hashing.targets import target_limbs, target_rows
from tests.hashing.helpers import random_headers

ZEROS = np.zeros((2, 80), np.uint8)


def test_hashlib_kernel_for_single_headers() -> None:
    for row in random_headers(20, seed=9):
        value = reference.hash_int(bytes(row))
        assert single.hashlib_meets(bytes(row), target_limbs(value))
        assert not single.hashlib_meets(bytes(row), target_limbs(value - 1))


def test_a_process_pinned_to_one_core_hashes_on_one_thread(monkeypatch) -> None:
    """threads=None follows the process's CPU affinity, not the machine's core count, and
    an explicit count is capped at it: a pinned process that split a batch over threads
    would only add switching."""
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {0})

    def no_helpers(*args):
        raise AssertionError("a one-core process must not hand work to other threads")

    monkeypatch.setattr(workers, "share", no_helpers)
    headers = random_headers(batch.PARALLEL_MIN_BATCH)
    got = hashing.sha256d_headers(headers)
    assert np.array_equal(got, reference.sha256d_headers(headers))
    assert hashing.hash_meets_target(headers, (1 << 256) - 1).all()
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), got)
    assert cpu.usable_cores() == 1


def test_per_row_targets_are_used_in_place() -> None:
    """A writeable uint8 (N, 32) target array goes to the kernel as it is (a view), not
    copied on every call; a read-only one is copied once."""
    targets = np.random.default_rng(2).integers(0, 256, size=(64, 32), dtype=np.uint8)
    limbs = target_rows(targets, 64)
    assert np.shares_memory(limbs, targets)
    assert limbs.dtype == np.uint32 and limbs.shape == (64, 8)
    assert [int.from_bytes(limbs[i].tobytes(), "little") for i in range(64)] == [
        int.from_bytes(targets[i].tobytes(), "little") for i in range(64)
    ]
    frozen = np.frombuffer(targets.tobytes(), np.uint8).reshape(64, 32)
    copied = target_rows(frozen, 64)
    assert not np.shares_memory(copied, frozen) and copied.flags.writeable
    assert np.array_equal(copied, limbs)


def test_strided_and_read_only_inputs_need_no_new_compile() -> None:
    headers = random_headers(64)
    hashing.sha256d_headers(headers)
    kernel = choice.chosen("batch").dispatcher("batch")
    before = len(kernel.signatures)
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
    assert len(kernel.signatures) == before


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
        (lambda: hashing.header_meets_target(bytes(80), [1]), "must be an int"),
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
