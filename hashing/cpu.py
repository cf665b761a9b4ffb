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


def has_sha_ni() -> bool:
    """True when the SHA extensions (sha256rnds2, sha256msg1/2) can be used.

    SURPLUS_NO_SHA_NI=1 turns the SHA-NI path off, to test the portable path on a
    machine that has it.
    """
    if os.environ.get("SURPLUS_NO_SHA_NI", "") not in ("", "0"):
        return False
    return "sha" in host_features() and "sse4.1" in host_features()


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
