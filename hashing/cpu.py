"""What the CPU offers the kernels, and one tuning knob numba does not expose.

Must be imported before numba compiles anything in the process: `hashing/__init__`
does so first.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import llvmlite.binding as llvm
import numba


@functools.cache
def host_features() -> frozenset[str]:
    """LLVM's names of the features this CPU has (e.g. "sha", "avx512f")."""
    try:
        flat = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # not every platform reports features
        return frozenset()
    return frozenset(f[1:] for f in flat.split(",") if f.startswith("+"))


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, not the machine's count.

    A process pinned to one core (taskset, a container's cpuset) that splits work across
    os.cpu_count() threads only adds switching to the work.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not every platform has affinity
        return max(1, os.cpu_count() or 1)


def prefer_512bit_vectors() -> bool:
    """Let LLVM use 512-bit vectors on AVX-512 CPUs; returns whether it was applied.

    LLVM's tuning for recent Intel CPUs asks for 256-bit vectors (`prefer-256-bit`, to
    avoid frequency drops in mixed code). The lane loop of the SHA-256d kernel is pure
    integer work on 16 lanes and runs about 1.5x faster with 512-bit registers. numba
    reads its feature string once, when it first compiles, so this only works before
    that; it never overrides a NUMBA_CPU_FEATURES set by the user, and changes nothing
    on CPUs without AVX-512 (their feature string is left alone).
    """
    config: Any = numba.config  # its settings are set from the environment at import
    if os.environ.get("NUMBA_CPU_FEATURES") or config.CPU_FEATURES is not None:
        return False
    if "avx512f" not in host_features():
        return False
    config.CPU_FEATURES = llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"
    return True
