"""The loop pieces every kernel shares: claiming rows of a batch, collecting scan hits.

Work sharing: a batch split in fixed halves waits for its slowest thread, and on a busy
machine the second thread may not even start until the first is done (two threads then
run slower than one). Instead every thread (the caller's included) runs the same kernel
over the whole batch and claims GRAIN rows at a time with an atomic fetch-and-add;
whichever thread is running does the work, and one that starts late finds less (or
nothing) left.

Kept small and stable: numba's on-disk cache of a kernel is invalidated by changes to
the kernel's own file, not by changes to what it calls here.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Rows per claim: a multiple of every lane and stream count (16, 8, 4, 3, 2) and about
# ten microseconds of hashing, so that a claim costs nothing next to its work.
GRAIN = 240


def named_intrinsic(codegen_factory, name: str):
    """numba intrinsic from a function built in a loop, under a name of its own (the
    intrinsics of one module must not share a name)."""
    codegen_factory.__name__ = codegen_factory.__qualname__ = name
    return intrinsic(codegen_factory)


def counter() -> np.ndarray:
    """A fresh claim counter: int64 (1,), the rows claimed so far."""
    return np.zeros(1, np.int64)


@intrinsic
def claim(typingctx, claims, grain):
    """Atomically add `grain` to claims[0]; returns the value before (the claimed offset)."""
    sig = types.int64(claims, types.int64)

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(arr.data, ir.IntType(64).as_pointer())
        return builder.atomic_rmw("add", ptr, args[1], "monotonic")

    return sig, codegen


@nb.njit(nogil=True, cache=True, inline="always")
def collect(mask, base, end, found, n_found):
    """Append base + k for each set bit k of mask (nonces below end) to found; returns
    the new count (it may exceed found's capacity: only the first ones are stored)."""
    k = 0
    while mask:
        if mask & nb.uint64(1) and base + k < end:
            if n_found < found.shape[0]:
                found[n_found] = nb.uint32((base + k) & 0xFFFFFFFF)
            n_found += 1
        mask >>= nb.uint64(1)
        k += 1
    return n_found
