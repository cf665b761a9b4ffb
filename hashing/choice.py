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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.binding as llvm
import numba

from hashing import kernels

log = logging.getLogger(__name__)

VERSION = 1
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


def choose(path: str) -> kernels.Kernel:
    """The kernel `path` uses in this process: forced, else measured, else default."""
    if path not in kernels.PATHS:
        raise kernels.KernelError(f"no path {path!r}; paths: {', '.join(kernels.PATHS)}")
    kernel = kernels.forced(path)
    if kernel is not None:
        return kernel
    recorded = load()
    if recorded is not None and path in recorded.choice:
        return kernels.KERNELS[recorded.choice[path]]
    return kernels.available(path)[0]


_resolved: dict[str, kernels.Kernel] = {}
_functions: dict[str, Callable] = {}
_on_reset: list[Callable[[], None]] = []


def chosen(path: str) -> kernels.Kernel:
    """choose(path), resolved once per process (reset() forgets)."""
    kernel = _resolved.get(path)
    if kernel is None:
        kernel = _resolved[path] = choose(path)
    return kernel


def function(path: str) -> Callable:
    """The chosen kernel's function for `path` (one dict lookup once resolved)."""
    fn = _functions.get(path)
    if fn is None:
        fn = _functions[path] = chosen(path).function(path)
    return fn


def reset() -> None:
    """Forget the resolved kernels and what was built on them (after a new choice is
    recorded, or in tests that change SURPLUS_HASH_KERNEL)."""
    _resolved.clear()
    _functions.clear()
    for listener in _on_reset:
        listener()


def on_reset(listener: Callable[[], None]) -> None:
    """Call `listener` on reset() (for callers that keep a resolved kernel themselves)."""
    _on_reset.append(listener)
