"""Timing every kernel this CPU can run, per path, for `surplus warm`'s choice.

Candidates run interleaved (A, B, C, A, B, C, ...) on one thread and the median rate of
each wins; the result is a `hashing.choice.Record` that warm saves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from hashing import kernels
from hashing.choice import Record

BATCH = 4096  # headers per timed batch call (the pool's large batches)
SCAN = 4096  # nonces per timed scan call
SINGLE = 256  # header_meets_target calls per timed single-path sample
SHARE_TARGET = 1 << 224  # about 1 header in 2**32 meets it: few hits, as in mining


def interleaved_medians(
    candidates: dict[str, Callable[[], int]], rounds: int, min_seconds: float = 0.0
) -> dict[str, float]:
    """Items per second of each candidate: A, B, C, A, B, C... for `rounds`, then the
    median of each. Interleaving spreads a noisy neighbour's bursts over every candidate
    instead of landing on one."""
    samples = interleaved_samples(candidates, rounds, min_seconds)
    return {name: statistics.median(s) for name, s in samples.items()}


def interleaved_samples(
    candidates: dict[str, Callable[[], int]], rounds: int, min_seconds: float = 0.0
) -> dict[str, list[float]]:
    """Items per second of each candidate in each round (A, B, C, A, B, C...): sample i
    of two candidates were taken moments apart, so their ratio cancels slow changes in
    what the rest of the machine does."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        fn()  # first call: load or compile, fault in the buffers
    for _ in range(rounds):
        for name, fn in candidates.items():
            items = 0
            start = time.perf_counter()
            while True:
                items += fn()
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            samples[name].append(items / elapsed)
    return samples


def batch_candidate(kernel: kernels.Kernel, headers: np.ndarray, *,
                    digests: bool = False) -> Callable[[], int]:
    """One call of the kernel's batch path over `headers` against a share target, with or
    without writing each digest out; it returns the headers it hashed."""
    from hashing.loops import counter
    from hashing.targets import target_limbs

    fn = kernel.function("batch")
    n = headers.shape[0]
    targets = target_limbs(SHARE_TARGET)
    out_digests = np.empty((n, 32), np.uint8) if digests else np.zeros((0, 32), np.uint8)
    meets = np.zeros(0 if digests else n, np.bool_)

    def run() -> int:
        fn(headers, targets, out_digests, meets, 0, n, counter())
        return n

    return run


def scan_candidate(kernel: kernels.Kernel, nonces: int = SCAN) -> Callable[[], int]:
    """One call of the kernel's scan path over `nonces` nonces of a header; it returns
    the nonces it tried."""
    from hashing.targets import target_limbs

    fn = kernel.function("scan")
    header = np.arange(80, dtype=np.uint8)
    targets = target_limbs(SHARE_TARGET)
    found = np.zeros(64, np.uint32)

    def run() -> int:
        fn(header, targets, 0, nonces, found)
        return nonces

    return run


def _single_candidate(kernel: kernels.Kernel, headers: list[bytes]) -> Callable[[], int]:
    from hashing import single
    from hashing.targets import target_limbs

    fn = single.entry(kernel)
    limbs = target_limbs(SHARE_TARGET)

    def run() -> int:
        for h in headers:
            fn(h, limbs)
        return len(headers)

    return run


def measure(rounds: int = 15, min_seconds: float = 0.002) -> Record:
    """Time every kernel this CPU can run, per path, on one thread; the fastest wins."""
    rng = np.random.default_rng(16)
    headers = rng.integers(0, 256, size=(BATCH, 80), dtype=np.uint8)
    singles = [bytes(r) for r in headers[:SINGLE]]
    makers: dict[str, Callable[[kernels.Kernel], Callable[[], int]]] = {
        "batch": lambda k: batch_candidate(k, headers),
        "scan": scan_candidate,
        "single": lambda k: _single_candidate(k, singles),
    }
    record = Record(choice={})
    for p in kernels.PATHS:
        candidates = {k.name: makers[p](k) for k in kernels.available(p)}
        rates = interleaved_medians(candidates, rounds, min_seconds)
        record.rates[p] = {name: round(rate, 1) for name, rate in rates.items()}
        record.choice[p] = max(rates, key=rates.__getitem__)
    return record
