"""The SHA-256d kernels, which of them this CPU can run, and which one each path uses.

Three paths: `batch` (many headers: sha256d_headers, hash_meets_target), `scan` (nonces
of one header: scan_nonces) and `single` (one header: header_meets_target). For each,
the kernel is, in order:

1. the one named by SURPLUS_HASH_KERNEL (tests and benchmarks), either a kernel name
   for every path it serves (`shani2`) or per path (`batch=avx2,scan=shani`);
2. the one `surplus warm` measured fastest on this CPU (`hashing.choice`);
3. a fixed order of preference, until warm has measured.

A kernel whose CPU features are missing is never chosen, and forcing one is a
KernelError that says what is missing: LLVM cannot even compile SHA-NI code for a CPU
without it. SURPLUS_HASH_HIDE (comma-separated LLVM feature names, e.g. `sha,avx512f`)
makes the choice treat features as missing, to test other CPUs' paths on this one.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from hashing import cpu

PATHS = ("batch", "scan", "single")
_SHA = ("sha", "sse4.1")


class KernelError(ValueError):
    """A kernel was asked for that does not exist, does not serve the path, or needs CPU
    features this machine lacks."""


@dataclass(frozen=True)
class Kernel:
    """One way of hashing headers, and the paths it serves. Lane and stream kernels of a
    module share its compiled functions: `width` (8 or 16 lanes, 1 to 4 streams) is their
    first argument, so one compile serves every width."""

    name: str
    requires: tuple[str, ...]  # LLVM feature names the CPU must have
    module: str
    functions: tuple[tuple[str, str], ...]  # (path, function name in module)
    about: str
    width: int = 1  # lanes or streams: the first argument of the module's batch and scan
    unless: tuple[str, ...] = ()  # offered only on CPUs without any of these

    def serves(self, path: str) -> bool:
        return any(p == path for p, _ in self.functions)

    def dispatcher(self, path: str) -> Callable:
        """The module's function for `path` (imports the module, compiles nothing)."""
        return getattr(importlib.import_module(self.module), dict(self.functions)[path])

    def server(self) -> Callable:
        """The module's `serve`: a helper thread's loop over batches posted to it
        (`hashing.handoff`); called with (width, mailbox, spin ticks)."""
        return importlib.import_module(self.module).serve

    def function(self, path: str) -> Callable:
        """The kernel's entry for `path`, with the path's usual arguments."""
        fn = self.dispatcher(path)
        return functools.partial(fn, self.width) if path in ("batch", "scan") else fn


def _lanes(name: str, width: int, requires: tuple[str, ...], about: str, **kw) -> Kernel:
    funcs = (("batch", "batch"), ("scan", "scan"))
    return Kernel(name, requires, "hashing.lanes", funcs, about, width, **kw)


def _shani(streams: int) -> Kernel:
    funcs: tuple[tuple[str, str], ...] = (("batch", "batch"), ("scan", "scan"))
    if streams == 1:
        return Kernel("shani", _SHA, "hashing.shani", (*funcs, ("single", "header_meets")),
                      "SHA-NI, one header at a time")  # fmt: skip
    return Kernel(f"shani{streams}", _SHA, "hashing.shani", funcs,
                  f"SHA-NI, {streams} headers interleaved", streams)  # fmt: skip


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        _lanes("avx512", 16, ("avx512f",), "16 headers in the lanes of 512-bit vectors"),
        _lanes("avx2", 8, ("avx2",), "8 headers in the lanes of 256-bit vectors"),
        _shani(1),
        _shani(2),
        _shani(3),
        _shani(4),
        _lanes("portable", 8, (), "8 lanes in whatever vectors the CPU has", unless=("avx2",)),
        Kernel(
            "hashlib", (), "hashing.single", (("single", "hashlib_meets"),),
            "OpenSSL through hashlib, one header at a time",
        ),
    )
}

# Before `surplus warm` has measured: what usually wins.
DEFAULT_ORDER = (
    "shani2", "avx512", "shani3", "shani4", "avx2", "shani", "portable", "hashlib",
)  # fmt: skip


def features() -> frozenset[str]:
    """The CPU's features as the kernel choice sees them (minus SURPLUS_HASH_HIDE)."""
    hidden = {f.strip() for f in os.environ.get("SURPLUS_HASH_HIDE", "").split(",")}
    return cpu.host_features() - hidden


def missing(kernel: Kernel, have: frozenset[str] | None = None) -> list[str]:
    """The features `kernel` needs that the CPU lacks (empty: it can run here)."""
    have = features() if have is None else have
    return [f for f in kernel.requires if f not in have]


def available(path: str | None = None) -> list[Kernel]:
    """The kernels this CPU runs (that serve `path`), in DEFAULT_ORDER."""
    have = features()
    out = []
    for name in DEFAULT_ORDER:
        k = KERNELS[name]
        if missing(k, have) or any(f in have for f in k.unless):
            continue
        if path is None or k.serves(path):
            out.append(k)
    return out


def _check(name: str, path: str, source: str) -> Kernel:
    kernel = KERNELS.get(name)
    if kernel is None:
        raise KernelError(f"{source}: no kernel named {name!r}; known: {', '.join(KERNELS)}")
    if not kernel.serves(path):
        served = ", ".join(p for p, _ in kernel.functions)
        raise KernelError(f"{source}: kernel {name} has no {path} path (it serves {served})")
    lacking = missing(kernel)
    if lacking:
        raise KernelError(
            f"{source}: kernel {name} needs the CPU feature(s) {', '.join(lacking)}, "
            "which this CPU lacks"
        )
    return kernel


def forced(path: str) -> Kernel | None:
    """The kernel SURPLUS_HASH_KERNEL names for `path`, or None when it names none."""
    spec = os.environ.get("SURPLUS_HASH_KERNEL", "").strip()
    if not spec:
        return None
    source = f"SURPLUS_HASH_KERNEL={spec!r}"
    if "=" not in spec:
        kernel = KERNELS.get(spec)
        if kernel is not None and not kernel.serves(path):
            return None  # a plain name covers only the paths it serves
        return _check(spec, path, source)
    for item in spec.split(","):
        p, sep, name = (s.strip() for s in item.partition("="))
        if not sep or p not in PATHS:
            raise KernelError(f"{source}: expected NAME or PATH=NAME,... with PATH one of "
                              f"{', '.join(PATHS)}; got {item.strip()!r}")  # fmt: skip
        if p == path:
            return _check(name, path, source)
    return None
