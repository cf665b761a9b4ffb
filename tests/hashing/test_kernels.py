"""Every kernel against hashlib, forced through the public API: random headers, every
batch size around the lane and stream widths, exact target boundaries, nonce scans.

A kernel this CPU cannot run is not skipped: forcing it must fail with a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

import hashing
from hashing import kernels, reference
from hashing.loops import counter
from tests.hashing.helpers import hash_ints, le_rows, random_headers

NAMES = list(kernels.KERNELS)


def runnable(name: str, path: str) -> bool:
    kernel = kernels.KERNELS[name]
    return kernel.serves(path) and not kernels.missing(kernel)


def expect_refusal(name: str, path: str, call) -> None:
    """Forcing a kernel that cannot serve `path` here is a KernelError, not a crash."""
    with pytest.raises(hashing.KernelError, match=name):
        call()


@pytest.mark.parametrize("name", NAMES)
def test_batch_digests_and_targets(name: str, force) -> None:
    force(f"batch={name}")
    headers = random_headers(4096 + 45, seed=len(name))
    if not runnable(name, "batch"):
        expect_refusal(name, "batch", lambda: hashing.sha256d_headers(headers))
        return
    assert hashing.kernels.chosen("batch").name == name
    expect = reference.sha256d_headers(headers)
    for threads in (1, 2):
        assert np.array_equal(hashing.sha256d_headers(headers, threads=threads), expect)
    values = [int.from_bytes(bytes(d), "little") for d in expect]
    # Per-row targets on the boundary: each row's own hash (meets), one below (fails).
    exact = [v if i % 3 else v - 1 for i, v in enumerate(values)]
    got = hashing.hash_meets_target(headers, le_rows(exact), threads=1)
    assert got.tolist() == [i % 3 != 0 for i in range(len(values))]
    # Shared targets: the median hash, and the edges 0 and 2**256 - 1.
    median = sorted(values)[len(values) // 2]
    got = hashing.hash_meets_target(headers, median, threads=2)
    assert got.tolist() == [v <= median for v in values]
    assert not hashing.hash_meets_target(headers, 0).any()
    assert hashing.hash_meets_target(headers, (1 << 256) - 1).all()


@pytest.mark.parametrize("name", NAMES)
def test_batch_every_small_size(name: str, force) -> None:
    """Sizes 0-40: partial lane chunks, stream leftovers, odd offsets of lo."""
    force(f"batch={name}")
    if not runnable(name, "batch"):
        expect_refusal(name, "batch", lambda: hashing.sha256d_headers(random_headers(1)))
        return
    for n in range(41):
        headers = random_headers(n, seed=n)
        values = hash_ints(headers)
        got = hashing.sha256d_headers(headers)
        assert [int.from_bytes(bytes(d), "little") for d in got] == values, n
        targets = [v if i % 2 == 0 else v - 1 for i, v in enumerate(values)]
        assert hashing.hash_meets_target(headers, le_rows(targets)).tolist() == [
            i % 2 == 0 for i in range(n)
        ], n
    kernel = kernels.KERNELS[name].function("batch")
    headers = random_headers(37, seed=99)
    digests = np.zeros((37, 32), np.uint8)
    kernel(headers, np.zeros((1, 8), np.uint32), digests, np.zeros(0, np.bool_), 5, 30, counter())
    assert not digests[:5].any() and not digests[30:].any(), "rows outside [lo, hi) untouched"
    assert np.array_equal(digests[5:30], reference.sha256d_headers(headers[5:30]))


@pytest.mark.parametrize("name", NAMES)
def test_scan(name: str, force) -> None:
    force(f"scan={name}")
    header76 = bytes(range(76))
    if not runnable(name, "scan"):
        expect_refusal(name, "scan", lambda: hashing.scan_nonces(header76, 1, 0, 1))
        return
    target = 1 << 250  # one hit in 64 on average
    for start, count in [(0, 0), (0, 1), (5, 100), (1000, 3001), (2**32 - 37, 37)]:
        got = hashing.scan_nonces(header76, target, start, count)
        assert got == reference.scan_nonces(header76, target, start, count), (start, count)
    # More hits than the kernel's buffer: every nonce, in order.
    assert hashing.scan_nonces(bytes(76), (1 << 256) - 1, 10, 2500) == list(range(10, 2510))


@pytest.mark.parametrize("name", NAMES)
def test_single(name: str, force) -> None:
    force(f"single={name}")
    headers = [bytes(r) for r in random_headers(30, seed=5)]
    if not runnable(name, "single"):
        expect_refusal(name, "single", lambda: hashing.header_meets_target(headers[0], 1))
        return
    for h in headers:
        value = reference.hash_int(h)
        assert hashing.header_meets_target(h, value)
        assert not hashing.header_meets_target(h, value - 1)
    assert hashing.header_meets_target(headers[0], (1 << 256) - 1)
    assert not hashing.header_meets_target(headers[0], 0)


def test_every_kernel_is_in_the_default_order() -> None:
    assert sorted(kernels.DEFAULT_ORDER) == sorted(kernels.KERNELS)
    for path in kernels.PATHS:
        assert kernels.available(path), f"some kernel serves {path} on every CPU"
