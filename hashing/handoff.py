"""Handing part of a batch to a helper thread without waking it: a mailbox in shared memory.

Waking a sleeping thread (a futex wake, the scheduler, on a VM an interrupt to an idle
virtual CPU) costs tens of microseconds, a large share of a batch of 4096 headers
(about 0.2 ms on one core). So a helper, after each batch, spins for a short while in
native code (GIL released) on an int64 mailbox; a caller that posts a batch within that
while finds it running, and the two threads share the batch's rows through the claim
counter of `hashing.loops`. The caller posts the arrays' addresses (both threads see the
same memory), hashes, then joins: it cancels a job no helper took, or waits (spinning)
for the helper that took it to finish. Only a helper that was not spinning is woken by
`hashing.workers`, and the caller never waits for one to wake up.

Mailbox slots (int64): STATE, AWAKE (1 while the helper spins or works), then the job:
the address and row count of headers, targets, digests and meets, the claim counter's
address, and lo / hi.

Kept small and stable: the kernels' `serve` functions inline these pieces, and numba's
on-disk cache of a kernel notices changes to the kernel's own file only.
"""

from __future__ import annotations

import platform

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

IDLE, POSTED, TAKEN, DONE, STOP = 0, 1, 2, 3, 4
STATE, AWAKE = 0, 1
_HEADERS, _TARGETS, _DIGESTS, _MEETS, _CLAIMS, _LO, _HI = 2, 4, 6, 8, 10, 11, 12
SLOTS = 16  # 128 bytes, two cache lines of its own: no false sharing with other data
_LINE = 64
# Spin turns (of a few dozen nanoseconds) between yields of the core. The caller waiting
# for a helper yields often: the helper may be queued behind it on its core. A helper
# waiting for work yields seldom: on a busy machine every yield may hand its core to
# another process for a whole time slice, and a helper that is not running helps no one.
_JOIN_YIELD = 64
_TAKE_YIELD = 1024
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def mailbox() -> np.ndarray:
    """A fresh, idle mailbox, aligned to a cache line."""
    raw = np.zeros(SLOTS + _LINE // 8, np.int64)
    skip = (-raw.ctypes.data % _LINE) // 8
    return raw[skip : skip + SLOTS]


def _slot(context, builder, array_type, array, index):
    arr = context.make_array(array_type)(context, builder, array)
    base = builder.bitcast(arr.data, ir.IntType(64).as_pointer())
    return builder.gep(base, [index])


@intrinsic
def load(typingctx, box, index):
    """box[index], read anew every time (an acquire load the compiler cannot hoist)."""
    sig = types.int64(box, types.intp)

    def codegen(context, builder, signature, args):
        ptr = _slot(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def store(typingctx, box, index, value):
    """box[index] = value, seen by the other thread after everything written before it."""
    sig = types.void(box, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _slot(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def swap_if(typingctx, box, index, expected, value):
    """box[index] = value if it holds `expected` (atomically); returns whether it did."""
    sig = types.boolean(box, types.intp, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _slot(context, builder, signature.args[0], args[0], args[1])
        pair = builder.cmpxchg(ptr, args[2], args[3], "acq_rel", "acquire")
        return builder.extract_value(pair, 1)

    return sig, codegen


@intrinsic
def relax(typingctx):
    """A spin-wait hint to the core (x86 `pause`): the spinning thread yields its shared
    resources and leaves the loop without a memory-order penalty."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _X86:
            fn = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(
                ir.VoidType(), []))  # fmt: skip
            builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def yield_cpu(typingctx):
    """sched_yield(): a spinning thread lets another runnable thread of its core go first
    (on a busy machine the thread it waits for may be queued behind it)."""
    sig = types.int32()

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")  # fmt: skip
        return builder.call(fn, [])

    return sig, codegen


@nb.njit(nogil=True, inline="always")
def pause(spins, every):
    """One turn of a spin-wait: `relax`, and a yield_cpu every `every` turns (a power of
    two). Returns spins + 1."""
    if spins & (every - 1) == every - 1:
        yield_cpu()
    else:
        relax()
    return spins + 1


@intrinsic
def ticks(typingctx):
    """The CPU's cycle counter (the TSC on x86): cheap, for bounding a spin."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(
            ir.IntType(64), []))  # fmt: skip
        return builder.call(fn, [])

    return sig, codegen


@intrinsic
def _address(typingctx, value):
    sig = types.voidptr(value)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


@nb.njit(nogil=True, cache=True)
def now():
    """ticks() from Python (to calibrate spins in seconds against a clock)."""
    return ticks()


@nb.njit(nogil=True, cache=True)
def post(box, headers, targets, digests, meets, lo, hi, claims):
    """Put a job in an idle mailbox; returns AWAKE (0: the helper must be woken)."""
    box[_HEADERS] = headers.ctypes.data
    box[_HEADERS + 1] = headers.shape[0]
    box[_TARGETS] = targets.ctypes.data
    box[_TARGETS + 1] = targets.shape[0]
    box[_DIGESTS] = digests.ctypes.data
    box[_DIGESTS + 1] = digests.shape[0]
    box[_MEETS] = meets.ctypes.data
    box[_MEETS + 1] = meets.shape[0]
    box[_CLAIMS] = claims.ctypes.data
    box[_LO] = lo
    box[_HI] = hi
    store(box, STATE, POSTED)
    return load(box, AWAKE)


@nb.njit(nogil=True, cache=True)
def join(box):
    """After the caller's own share: withdraw the job if no helper took it (False), else
    wait for the helper that did (True; it finds at most one claim's rows left). The
    arrays may be freed once this returns."""
    if swap_if(box, STATE, POSTED, IDLE) or load(box, STATE) == IDLE:  # or never posted
        return False
    spins = 0
    while load(box, STATE) != DONE:
        spins = pause(spins, _JOIN_YIELD)
    store(box, STATE, IDLE)
    return True


@nb.njit(nogil=True, cache=True)
def stop(box):
    """Ask a helper to leave its spin (it then returns to Python and exits)."""
    store(box, STATE, STOP)


@nb.njit(nogil=True, inline="always")
def take(box, spin):
    """Spin until a job is posted (True, now TAKEN) or for `spin` ticks of running
    (False); False at once on STOP. A gap between two turns longer than spin / 64 (the
    thread was not running) counts as spin / 64: a helper that the scheduler set aside
    for a while still spins when it runs again."""
    last = ticks()
    spent = 0
    gap = max(1, spin // 64)
    spins = 0
    while True:
        state = load(box, STATE)
        if state == POSTED and swap_if(box, STATE, POSTED, TAKEN):
            return True
        now = ticks()
        spent += min(now - last, gap)
        last = now
        if state == STOP or spent > spin:
            return False
        spins = pause(spins, _TAKE_YIELD)


@nb.njit(nogil=True, inline="always")
def job(box):
    """The posted job's arguments for a kernel's batch: arrays over the caller's memory."""
    headers = nb.carray(_address(box[_HEADERS]), (box[_HEADERS + 1], 80), np.uint8)
    targets = nb.carray(_address(box[_TARGETS]), (box[_TARGETS + 1], 8), np.uint32)
    digests = nb.carray(_address(box[_DIGESTS]), (box[_DIGESTS + 1], 32), np.uint8)
    meets = nb.carray(_address(box[_MEETS]), box[_MEETS + 1], np.bool_)
    claims = nb.carray(_address(box[_CLAIMS]), 1, np.int64)
    return headers, targets, digests, meets, box[_LO], box[_HI], claims


@nb.njit(nogil=True, inline="always")
def serve(batch, width, box, spin):
    """A helper thread's loop, for a kernel module's `serve` to inline with its `batch`:
    each job posted to `box` while it spins, then back to Python after `spin` ticks
    without one."""
    store(box, AWAKE, 1)
    while take(box, spin):
        headers, targets, digests, meets, lo, hi, claims = job(box)
        batch(width, headers, targets, digests, meets, lo, hi, claims)
        store(box, STATE, DONE)
    store(box, AWAKE, 0)
