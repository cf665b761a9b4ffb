"""The loops every kernel shares: claiming rows of a batch, walking a scan's nonces and
collecting its hits. A kernel module brings only the step that hashes a few rows or
nonces, and passes it in (`run_batch`, `run_scan`).

Work sharing: a batch split in fixed halves waits for its slowest thread, and on a busy
machine the second thread may not even start until the first is done (two threads then
run slower than one). Instead every thread (the caller's included) runs the same kernel
over the whole batch and claims rows a few at a time with an atomic fetch-and-add;
whichever thread is running does the work, and one that starts late finds less (or
nothing) left.

Kept small and stable: numba's on-disk cache of a kernel is invalidated by changes to
the kernel's own file, not by changes to what it calls here. The loops that take a step
are inlined into the kernel that calls them (inline="always") and cached with it: called
instead, a step passed as a value leaves its address in the code, which numba cannot
cache. A batch's step takes a whole claim, so that its branch on the width is taken once
a claim, not once every few rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I8P = ir.IntType(8).as_pointer()

# What every nonce of a scan shares (a kernel module's `prepare`): the midstate after the
# header's first 64 bytes (words a..h) and header words 16-18; the nonce is word 19.
PREPARED = types.UniTuple(types.uint32, 11)

# Rows per claim: multiples of every lane and stream count (16, 8, 4, 3, 2). A claim is
# GRAIN rows (about ten microseconds of hashing, so that it costs nothing next to its
# work) while much of the batch is left, shrinking to MIN_GRAIN (about two) towards its
# end, so that the threads finish together: the caller waits for the last claim of a
# helper.
GRAIN = 240
MIN_GRAIN = 48


def named_intrinsic(codegen_factory, name: str):
    """numba intrinsic from a function built in a loop, under a name of its own (the
    intrinsics of one module must not share a name)."""
    codegen_factory.__name__ = codegen_factory.__qualname__ = name
    return intrinsic(codegen_factory)


def prepare_intrinsic(name: str, emit: Callable[[ir.IRBuilder, ir.Value], list]):
    """numba intrinsic header (uint8 (80,)) -> PREPARED; emit(builder, data) builds the 11
    words (i32) from the header's bytes (i8*)."""

    def prepare(typingctx, header):
        sig = PREPARED(header)

        def codegen(context, builder, signature, args):
            arr = context.make_array(signature.args[0])(context, builder, args[0])
            words = emit(builder, builder.bitcast(arr.data, _I8P))
            return context.make_tuple(builder, signature.return_type, words)

        return sig, codegen

    return named_intrinsic(prepare, name)


def scan_intrinsic(name: str, emit: Callable[..., ir.Value]):
    """numba intrinsic (prepared: PREPARED, nonce: uint32, targets: uint32 (1, 8)) -> uint64,
    the mask of the nonces from `nonce` whose header meets targets[0] (bit k: nonce + k);
    emit(builder, words, nonce, limbs) builds it from the 11 prepared words (i32), the
    nonce (i32) and targets[0]'s little-endian limbs (i8*)."""

    def scan(typingctx, prepared, nonce, targets):
        sig = types.uint64(prepared, types.uint32, targets)

        def codegen(context, builder, signature, args):
            t_arr = context.make_array(signature.args[2])(context, builder, args[2])
            words = [builder.extract_value(args[0], k) for k in range(11)]
            return emit(builder, words, args[1], builder.bitcast(t_arr.data, _I8P))

        return sig, codegen

    return named_intrinsic(scan, name)


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
def claim_rows(claims, lo, hi):
    """The next rows [start, end) of [lo, hi) for this thread (start >= hi: none left):
    a quarter of what looks left, between MIN_GRAIN and GRAIN rows (the look is not
    atomic, the claim is)."""
    left = (hi - lo - claims[0]) // 4
    grain = min(GRAIN, max(MIN_GRAIN, left - left % MIN_GRAIN))
    start = lo + claim(claims, grain)
    return start, min(start + grain, hi)


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


@nb.njit(nogil=True, inline="always")
def run_batch(step, width, headers, targets, digests, meets, lo, hi, claims):
    """hashing.lanes.batch's loop: claims rows of [lo, hi) a few at a time (claim_rows)
    and hashes each claim's rows [base, end) with step(width, headers, base, end, targets,
    shared, digests, meets, want_d, want_m)."""
    want_d = digests.shape[0] > 0
    want_m = meets.shape[0] > 0
    shared = targets.shape[0] == 1
    while True:
        base, end = claim_rows(claims, lo, hi)
        if base >= hi:
            break
        step(width, headers, base, end, targets, shared, digests, meets, want_d, want_m)


@nb.njit(nogil=True, inline="always")
def run_scan(step, width, prepared, targets, start, count, found):
    """hashing.lanes.scan's loop over the nonces [start, start + count), `width` at a time:
    step(width, prepared, nonce, targets) is the mask of those from nonce that meet
    targets[0], prepared what every nonce of the header shares (the module's prepare)."""
    n_found = 0
    base = start
    end = start + count
    while base < end:
        mask = step(width, prepared, nb.uint32(base & 0xFFFFFFFF), targets)
        if mask:
            n_found = collect(mask, base, end, found, n_found)
        base += width
    return n_found
