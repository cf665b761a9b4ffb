"""Batch SHA-256d of 80-byte headers: the share validator's hot path.

Every batch goes through one kernel, the one `hashing.kernels` chose for the batch path
(measured fastest on this CPU by `surplus warm`). Large batches are shared with helper
threads (`hashing.workers`) that spin for the next batch in native code after each one,
so a stream of batches reaches them without waking a thread each time; the kernels
release the GIL, and the one compiled kernel serves every thread count.
"""

from __future__ import annotations

import numpy as np

from hashing import choice, cpu, workers
from hashing.loops import GRAIN, counter
from hashing.targets import target_limbs, target_rows

PARALLEL_MIN_BATCH = 4096
_U8 = np.dtype(np.uint8)
_NO_DIGESTS = np.zeros((0, 32), dtype=np.uint8)
_NO_MEETS = np.zeros(0, dtype=np.bool_)
_NO_TARGETS = np.zeros((1, 8), dtype=np.uint32)


def as_headers(headers: np.ndarray) -> np.ndarray:
    """Validate (N, 80) uint8 and return a C-contiguous, writeable array (a copy if needed).

    The kernels are compiled for one array type; a strided or read-only input is copied
    (80 bytes a header) rather than compiled for again.
    """
    if not isinstance(headers, np.ndarray):
        raise ValueError(
            f"headers must be a numpy uint8 array of shape (N, 80), got {type(headers).__name__}"
        )
    # Checked in the cheapest order: this runs on every batch (the identity test of the
    # dtype and flags.carray, contiguous + aligned + writeable, are one lookup each).
    if headers.dtype is not _U8 and headers.dtype != _U8:
        raise ValueError(f"headers must have dtype uint8, got {headers.dtype}")
    if headers.ndim != 2 or headers.shape[1] != 80:
        raise ValueError(f"headers must have shape (N, 80), got {headers.shape}")
    if not headers.flags.carray:
        headers = np.array(headers, dtype=np.uint8, order="C")
    return headers


def _run(headers, targets, digests, meets, threads: int | None) -> None:
    n = headers.shape[0]
    fn = choice.function("batch")
    if threads is None:
        threads = cpu.usable_cores() if n >= PARALLEL_MIN_BATCH else 1
    if threads > 1:  # never more than the cores (a helper spinning on the caller's core
        # only delays it) or the claims of the batch
        threads = min(threads, cpu.usable_cores(), (n + GRAIN - 1) // GRAIN)
    if threads <= 1:
        fn(headers, targets, digests, meets, 0, n, counter())
    else:
        # Every thread runs the kernel over the whole batch, claiming rows as it goes
        # (hashing.loops): a helper that starts late simply finds less left to do.
        workers.share(fn, headers, targets, digests, meets, n, counter(), threads)


def sha256d_headers(headers: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """uint8 (N, 32) digests of uint8 (N, 80) headers, in hashlib's byte order.

    threads: None picks every core this process may run on (its CPU affinity) for
    batches of 4096 and more, one thread below; a number is capped at those cores.
    """
    headers = as_headers(headers)
    digests = np.empty((headers.shape[0], 32), dtype=np.uint8)
    if headers.shape[0]:
        _run(headers, _NO_TARGETS, digests, _NO_MEETS, threads)
    return digests


def hash_meets_target(headers: np.ndarray, targets, *, threads: int | None = None) -> np.ndarray:
    """bool (N,): the header's hash, as a little-endian 256-bit integer, is <= its target.

    targets: one int for every header, or uint8 (N, 32) little-endian targets, one per
    header (shares of different sessions carry different difficulties).
    """
    headers = as_headers(headers)
    n = headers.shape[0]
    if isinstance(targets, int) and not isinstance(targets, bool):
        limbs = target_limbs(targets)
    else:
        limbs = target_rows(targets, n)
    meets = np.empty(n, dtype=np.bool_)  # the kernel writes every row
    if n:
        _run(headers, limbs, _NO_DIGESTS, meets, threads)
    return meets
