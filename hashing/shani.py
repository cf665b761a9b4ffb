"""SHA-256d of one 80-byte header with the x86 SHA extensions (SHA-NI).

For a lone share, a 16-lane kernel wastes 15 lanes and hashlib pays four Python calls;
sha256rnds2 does two rounds per instruction, so one header costs a few hundred cycles.
The compression is emitted as LLVM IR through a numba intrinsic over
`llvm.x86.sha256rnds2`, `llvm.x86.sha256msg1` and `llvm.x86.sha256msg2`, following the
structure of Intel's reference code (state kept as ABEF/CDGH vector pairs).

Only compile or call these kernels where `hashing.cpu.has_sha_ni()` is true: LLVM
cannot lower the intrinsics on a CPU without the extension.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hashing.gen_unrolled import IV, K

_I32 = ir.IntType(32)
_I8 = ir.IntType(8)
_V4 = ir.VectorType(_I32, 4)
_V16B = ir.VectorType(_I8, 16)
# Byte order within each 32-bit word reversed (SHA-256 words are big-endian).
_BSWAP_WORDS = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]


class _Emitter:
    """Builds SHA-256 compressions in IR on (ABEF, CDGH) state vector pairs."""

    def __init__(self, builder: ir.IRBuilder) -> None:
        self.b = builder
        module = builder.module
        self.rnds2 = cgutils.get_or_insert_function(
            module, ir.FunctionType(_V4, [_V4, _V4, _V4]), "llvm.x86.sha256rnds2"
        )
        self.msg1 = cgutils.get_or_insert_function(
            module, ir.FunctionType(_V4, [_V4, _V4]), "llvm.x86.sha256msg1"
        )
        self.msg2 = cgutils.get_or_insert_function(
            module, ir.FunctionType(_V4, [_V4, _V4]), "llvm.x86.sha256msg2"
        )

    @staticmethod
    def const(words: list[int]) -> ir.Constant:
        return ir.Constant(_V4, [ir.Constant(_I32, w & 0xFFFFFFFF) for w in words])

    def shuffle(self, a: ir.Value, b: ir.Value, idx: list[int]) -> ir.Value:
        mask = ir.Constant(ir.VectorType(_I32, len(idx)), [ir.Constant(_I32, i) for i in idx])
        return self.b.shuffle_vector(a, b, mask)

    def load_words(self, ptr: ir.Value, offset: int) -> ir.Value:
        """Four big-endian words at ptr+offset, as word values."""
        p = self.b.gep(ptr, [ir.Constant(ir.IntType(64), offset)])
        raw = self.b.load(self.b.bitcast(p, _V16B.as_pointer()), align=1)
        swapped = self.shuffle(raw, raw, _BSWAP_WORDS)
        return self.b.bitcast(swapped, _V4)

    def store_words(self, ptr: ir.Value, offset: int, v: ir.Value) -> None:
        """Store four word values big-endian at ptr+offset (digest byte order)."""
        raw = self.b.bitcast(v, _V16B)
        swapped = self.shuffle(raw, raw, _BSWAP_WORDS)
        p = self.b.gep(ptr, [ir.Constant(ir.IntType(64), offset)])
        self.b.store(swapped, self.b.bitcast(p, _V16B.as_pointer()), align=1)

    @staticmethod
    def initial_state(state: list[int]) -> tuple[ir.Constant, ir.Constant]:
        a, b, c, d, e, f, g, h = state
        # ABEF and CDGH as Intel's code keeps them (element 0 first).
        return _Emitter.const([f, e, b, a]), _Emitter.const([h, g, d, c])

    def compress(
        self, abef: ir.Value, cdgh: ir.Value, msg: list[ir.Value]
    ) -> tuple[ir.Value, ir.Value]:
        """64 rounds over the 4 message vectors `msg` (word values)."""
        b = self.b
        w = list(msg)
        s0, s1 = abef, cdgh
        for i in range(16):
            if i >= 4:
                t = b.call(self.msg1, [w[i - 4], w[i - 3]])
                t = b.add(t, self.shuffle(w[i - 2], w[i - 1], [1, 2, 3, 4]))
                w.append(b.call(self.msg2, [t, w[i - 1]]))
            m = b.add(w[i], self.const(K[4 * i : 4 * i + 4]))
            s1 = b.call(self.rnds2, [s1, s0, m])
            m = self.shuffle(m, m, [2, 3, 0, 0])
            s0 = b.call(self.rnds2, [s0, s1, m])
        return b.add(s0, abef), b.add(s1, cdgh)

    def words(self, abef: ir.Value, cdgh: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(a, b, c, d) and (e, f, g, h) from the ABEF/CDGH pair."""
        tmp = self.shuffle(abef, abef, [3, 2, 1, 0])  # a b e f
        cd = self.shuffle(cdgh, cdgh, [1, 0, 3, 2])  # g h c d
        abcd = self.shuffle(tmp, cd, [0, 1, 6, 7])
        efgh = self.shuffle(tmp, cd, [2, 3, 4, 5])
        return abcd, efgh


def _emit_sha256d_80(builder: ir.IRBuilder, src: ir.Value, dst: ir.Value) -> None:
    em = _Emitter(builder)
    iv0, iv1 = em.initial_state(IV)
    m0 = [em.load_words(src, 16 * i) for i in range(4)]
    s0, s1 = em.compress(iv0, iv1, m0)
    tail = em.load_words(src, 64)
    s0, s1 = em.compress(
        s0, s1, [tail, em.const([0x80000000, 0, 0, 0]), em.const([0] * 4), em.const([0, 0, 0, 640])]
    )
    abcd, efgh = em.words(s0, s1)
    s0, s1 = em.compress(
        iv0, iv1, [abcd, efgh, em.const([0x80000000, 0, 0, 0]), em.const([0, 0, 0, 256])]
    )
    abcd, efgh = em.words(s0, s1)
    em.store_words(dst, 0, abcd)
    em.store_words(dst, 16, efgh)


@intrinsic
def _sha256d_80_into(typingctx, src, src_offset, dst, dst_offset):
    """Writes sha256d(src[src_offset:src_offset+80]) to dst[dst_offset:dst_offset+32]."""
    sig = types.void(src, types.intp, dst, types.intp)

    def codegen(context, builder, signature, args):
        s = context.make_array(signature.args[0])(context, builder, args[0])
        d = context.make_array(signature.args[2])(context, builder, args[2])
        sp = builder.gep(s.data, [args[1]])
        dp = builder.gep(d.data, [args[3]])
        _emit_sha256d_80(builder, sp, dp)
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(nogil=True, cache=True)
def _meets(digest, targets, t):
    """Is the 32-byte digest, as a little-endian integer, <= targets[t] (uint32 limbs)?"""
    lt = False
    eq = True
    for j in range(7, -1, -1):
        o = 4 * j
        h = (
            np.uint32(digest[o])
            | (np.uint32(digest[o + 1]) << np.uint32(8))
            | (np.uint32(digest[o + 2]) << np.uint32(16))
            | (np.uint32(digest[o + 3]) << np.uint32(24))
        )
        tj = targets[t, j]
        lt = lt | (eq & (h < tj))
        eq = eq & (h == tj)
    return lt | eq


@nb.njit(nogil=True, cache=True)
def header_meets(header, targets):
    """One header (bytes or uint8 array of 80) against targets[0] (uint32 (1, 8) limbs)."""
    digest = np.empty(32, np.uint8)
    _sha256d_80_into(header, 0, digest, 0)
    return _meets(digest, targets, 0)


@nb.njit(nogil=True, cache=True)
def hash_rows(headers, targets, digests, meets, lo, hi):
    """Same contract as the lane kernel's hash_batch, one header at a time (batch tails)."""
    want_digests = digests.shape[0] > 0
    want_meets = meets.shape[0] > 0
    shared_target = targets.shape[0] == 1
    scratch = np.empty(32, np.uint8)
    for i in range(lo, hi):
        _sha256d_80_into(headers[i], 0, scratch, 0)
        if want_digests:
            digests[i, :] = scratch
        if want_meets:
            meets[i] = _meets(scratch, targets, 0 if shared_target else i)
