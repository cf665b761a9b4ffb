"""The fastest kernel for each path on this CPU: measured by `surplus warm`, kept on disk.

The record is a small JSON file beside numba's compiled kernels (the numba cache
directory), named after a digest of what makes a measurement valid: the CPU's name and
features, numba's version and the set of kernels. Another CPU, another numba or another
kernel set looks for another file, so a record is never applied where it was not
measured. A file that cannot be read, is not valid JSON, has another shape or names a
kernel this CPU cannot run is ignored with a warning: the paths fall back to their
default order, and the next `surplus warm` writes a good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.binding as llvm
import numba
import numpy as np

from hashing import kernels

log = logging.getLogger(__name__)

VERSION = 1
BATCH = 4096  # headers per timed batch call (the pool's large batches)
SCAN = 4096  # nonces per timed scan call
SINGLE = 256  # header_meets_target calls per timed single-path sample
_MAX_BYTES = 64 * 1024


@dataclass
class Record:
    """What warm measured: the kernel per path, and each candidate's headers per second."""

    choice: dict[str, str]
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    key: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, "key": self.key, "choice": self.choice,
                           "rates": self.rates}, indent=2, sort_keys=True)  # fmt: skip


def key() -> dict:
    """What a measurement depends on (the CPU as the kernel choice sees it)."""
    return {
        "cpu": llvm.get_host_cpu_name(),
        "features": sorted(kernels.features()),
        "numba": numba.__version__,
        "kernels": sorted(kernels.KERNELS),
        "version": VERSION,
    }


def cache_dir() -> Path | None:
    """numba's cache directory for the kernels (None when numba caches nothing)."""
    from hashing import lanes

    cache = getattr(lanes.batch, "_cache", None)
    path = getattr(cache, "cache_path", None)
    return Path(path) if path else None


def path(directory: Path | None = None) -> Path | None:
    directory = cache_dir() if directory is None else directory
    if directory is None:
        return None
    digest = hashlib.sha256(json.dumps(key(), sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"hash-kernels-{digest}.json"


def parse(text: str, expected_key: dict) -> Record:
    """A record from the file's text; ValueError says what is wrong with it."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("not a version-1 kernel choice")
    if data.get("key") != expected_key:
        raise ValueError("measured on another CPU, numba or kernel set")
    choice, rates = data.get("choice"), data.get("rates", {})
    if not isinstance(choice, dict) or not isinstance(rates, dict):
        raise ValueError("choice and rates must be objects")
    for p, name in choice.items():
        if p not in kernels.PATHS:
            raise ValueError(f"unknown path {p!r}")
        if name not in {k.name for k in kernels.available(p)}:
            raise ValueError(f"{p}: kernel {name!r} cannot serve it on this CPU")
    clean: dict[str, dict[str, float]] = {}
    for p, by_kernel in rates.items():
        if p not in kernels.PATHS or not isinstance(by_kernel, dict):
            raise ValueError(f"bad rates for {p!r}")
        clean[p] = {}
        for name, rate in by_kernel.items():
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
                raise ValueError(f"bad rate for {p}/{name}")
            clean[p][str(name)] = float(rate)
    return Record(choice=dict(choice), rates=clean, key=expected_key)


def load(directory: Path | None = None) -> Record | None:
    """The record for this CPU, or None (missing, unreadable or invalid: warned, ignored)."""
    file = path(directory)
    if file is None:
        return None
    try:
        with open(file, "rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("ignoring kernel choice %s: %s", file, exc)
        return None
    try:
        if len(raw) > _MAX_BYTES:
            raise ValueError("too large")
        return parse(raw.decode("utf-8"), key())
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("ignoring kernel choice %s: %s; run `surplus warm` to measure again",
                    file, exc)  # fmt: skip
        return None


def save(record: Record, directory: Path | None = None) -> Path | None:
    """Write atomically (a reader sees the old file or the new one, never half of one)."""
    file = path(directory)
    if file is None:
        return None
    record.key = key()
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".hash-kernels-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(record.to_json())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return file


def interleaved_medians(
    candidates: dict[str, Callable[[], int]], rounds: int, min_seconds: float = 0.0
) -> dict[str, float]:
    """Items per second of each candidate: A, B, C, A, B, C... for `rounds`, then the
    median of each. Interleaving spreads a noisy neighbour's bursts over every candidate
    instead of landing on one."""
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
    return {name: statistics.median(s) for name, s in samples.items()}


def _batch_candidate(kernel: kernels.Kernel, headers: np.ndarray) -> Callable[[], int]:
    from hashing.loops import counter
    from hashing.targets import target_limbs

    fn = kernel.function("batch")
    targets = target_limbs(1 << 224)
    meets = np.zeros(headers.shape[0], np.bool_)
    no_digests = np.zeros((0, 32), np.uint8)
    n = headers.shape[0]

    def run() -> int:
        fn(headers, targets, no_digests, meets, 0, n, counter())
        return n

    return run


def _scan_candidate(kernel: kernels.Kernel) -> Callable[[], int]:
    from hashing.targets import target_limbs

    fn = kernel.function("scan")
    header = np.arange(80, dtype=np.uint8)
    targets = target_limbs(1 << 224)
    found = np.zeros(64, np.uint32)

    def run() -> int:
        fn(header, targets, 0, SCAN, found)
        return SCAN

    return run


def _single_candidate(kernel: kernels.Kernel, headers: list[bytes]) -> Callable[[], int]:
    from hashing import single
    from hashing.targets import target_limbs

    fn = single.entry(kernel)
    limbs = target_limbs(1 << 224)

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
        "batch": lambda k: _batch_candidate(k, headers),
        "scan": _scan_candidate,
        "single": lambda k: _single_candidate(k, singles),
    }
    record = Record(choice={})
    for p in kernels.PATHS:
        candidates = {k.name: makers[p](k) for k in kernels.available(p)}
        rates = interleaved_medians(candidates, rounds, min_seconds)
        record.rates[p] = {name: round(rate, 1) for name, rate in rates.items()}
        record.choice[p] = max(rates, key=rates.__getitem__)
    return record
