"""Compile (or load) every kernel this CPU can run, then measure which is fastest.

Each kernel is compiled for exactly one signature because the public functions
normalise their arguments (C-contiguous, writeable, native order) before calling it. On
a cold cache the kernel groups compile in separate processes, one per core, and this
process then loads them from numba's on-disk cache. Then every kernel is timed on a
short batch, per path, and the fastest is recorded (`hashing.choice`) for every later
process on this CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from hashing import choice, cpu, handoff, kernels
from hashing.loops import counter
from hashing.measure import measure as measure_kernels
from hashing.targets import target_limbs


def _compile(kernel: kernels.Kernel) -> int:
    """Run each of the kernel's functions once with the argument types the API uses."""
    n = 3
    headers = np.zeros((n, 80), np.uint8)
    for path, _ in kernel.functions:
        fn = kernel.function(path)
        if path == "batch":
            fn(headers, target_limbs(0), np.zeros((n, 32), np.uint8), np.zeros(0, np.bool_), 0, n,
               counter())  # fmt: skip
            fn(headers, np.zeros((n, 8), np.uint32), np.zeros((0, 32), np.uint8),
               np.zeros(n, np.bool_), 0, n, counter())  # fmt: skip
        elif path == "scan":
            fn(np.zeros(80, np.uint8), target_limbs(0), 0, 4, np.zeros(4, np.uint32))
        elif kernel.name != "hashlib":
            from hashing import single

            single.entry(kernel)
    if kernel.serves("batch"):
        _compile_helper(kernel)
    return sum(len(getattr(kernel.dispatcher(p), "signatures", ())) for p, _ in kernel.functions)


def _compile_helper(kernel: kernels.Kernel) -> None:
    """The pieces a batch shared with helper threads runs (`hashing.handoff`): the
    kernel's `serve`, given a stopped mailbox so that it returns at once, and the
    caller's side."""
    box = handoff.mailbox()
    handoff.stop(box)
    kernel.server()(kernel.width, box, 0)
    idle = handoff.mailbox()
    handoff.post(idle, np.zeros((1, 80), np.uint8), target_limbs(0), np.zeros((0, 32), np.uint8),
                 np.zeros(1, np.bool_), 0, 1, counter())  # fmt: skip
    handoff.join(idle)
    handoff.now()


def groups() -> dict[str, list[kernels.Kernel]]:
    """The kernels this CPU can run, by module: one compile job each (hashlib compiles
    nothing)."""
    out: dict[str, list[kernels.Kernel]] = {}
    for k in kernels.available():
        if k.module != "hashing.single":
            out.setdefault(k.module, []).append(k)
    return out


def warm_group(name: str) -> None:
    for kernel in groups().get(name, []):
        _compile(kernel)


def _signatures() -> int:
    """Distinct compiled functions (several kernels can share one, e.g. avx2/portable)."""
    seen: dict[int, int] = {}
    for kernel in kernels.available():
        for path, _ in kernel.functions:
            fn = kernel.dispatcher(path)
            seen[id(fn)] = len(getattr(fn, "signatures", ()))
    return sum(seen.values())


def is_cached() -> bool:
    """Is every kernel in numba's on-disk cache, and a choice recorded for this CPU?"""
    file = choice.path()
    if file is None or not file.exists():
        return False
    functions = [handoff.post, handoff.join, handoff.stop, handoff.now]
    for kernel in kernels.available():
        functions += [kernel.dispatcher(p) for p, _ in kernel.functions]
        if kernel.serves("batch"):
            functions.append(kernel.server())
    for function in functions:
        cache = getattr(function, "_cache", None)
        index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
        if index is not None and not Path(index).exists():
            return False
    return True


def warm(parallel: bool | None = None, *, measure: bool = True) -> int:
    """Compile every kernel, measure and record the fastest; returns how many compiled
    functions are ready.

    parallel: compile the kernel groups in child processes first (default: when the
    process may use more than one core and the cache is cold).
    """
    if parallel is None:
        parallel = cpu.usable_cores() > 1 and not is_cached()
    if parallel:
        env = dict(os.environ)
        env.pop("SURPLUS_HASH_KERNEL", None)  # compile everything, whatever is forced
        code = "from hashing.warm import warm_group; warm_group({!r})"
        children = {
            name: subprocess.Popen([sys.executable, "-c", code.format(name)], env=env)
            for name in groups()
        }
        failed = [m for m, c in children.items() if c.wait() != 0]
        if failed:
            raise RuntimeError(f"compiling kernel groups failed: {', '.join(failed)}")
    for kernel in kernels.available():
        _compile(kernel)
    if measure:
        choice.save(measure_kernels())
        choice.reset()
    return _signatures()
