"""SHA-256d of 80-byte headers with the x86 SHA extensions (SHA-NI), 1 to 4 at a time.

sha256rnds2 does two rounds per instruction, but each depends on the one before: one
header at a time, the core waits on its latency (that is where OpenSSL's single-stream
rate comes from). Two to four independent headers interleaved instruction by instruction
keep the SHA unit busy instead; which count is fastest depends on the CPU, so
`hashing.choice` measures them.

The compressions are emitted as LLVM IR through numba intrinsics over
`llvm.x86.sha256rnds2`, `llvm.x86.sha256msg1` and `llvm.x86.sha256msg2`, following the
structure of Intel's reference code (state kept as ABEF/CDGH vector pairs). Only compile
or call these kernels where the CPU has SHA-NI (`hashing.kernels` sees to it): LLVM
cannot lower the intrinsics for a CPU without the extension.

As in `hashing.lanes`, the emitter shares this file with its kernels so that numba's
cache, which watches only a kernel's own file, sees every change to them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hashing import handoff
from hashing.constants import DIGEST_PADDING, IV, M32, TAIL_PADDING, K
from hashing.loops import named_intrinsic, prepare_intrinsic, run_batch, run_scan, scan_intrinsic

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V4 = ir.VectorType(_I32, 4)
_V8 = ir.VectorType(_I32, 8)
_V16B = ir.VectorType(_I8, 16)
# Byte order within each 32-bit word reversed (SHA-256 words are big-endian).
_BSWAP_WORDS = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]

State = tuple[ir.Value, ir.Value]  # (ABEF, CDGH)


class Emitter:
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
        self._bswap8 = cgutils.get_or_insert_function(
            module, ir.FunctionType(_V8, [_V8]), "llvm.bswap.v8i32"
        )

    @staticmethod
    def const(words: Sequence[int]) -> ir.Constant:
        return ir.Constant(_V4, [ir.Constant(_I32, w & M32) for w in words])

    def shuffle(self, a: ir.Value, c: ir.Value, idx: list[int]) -> ir.Value:
        mask = ir.Constant(ir.VectorType(_I32, len(idx)), [ir.Constant(_I32, i) for i in idx])
        return self.b.shuffle_vector(a, c, mask)

    def load_words(self, ptr: ir.Value, offset: int) -> ir.Value:
        """Four big-endian words at ptr+offset, as word values."""
        p = self.b.gep(ptr, [ir.Constant(_I64, offset)])
        raw = self.b.load(self.b.bitcast(p, _V16B.as_pointer()), align=1)
        return self.b.bitcast(self.shuffle(raw, raw, _BSWAP_WORDS), _V4)

    def store_words(self, ptr: ir.Value, offset: int, v: ir.Value) -> None:
        """Store four word values big-endian at ptr+offset (digest byte order)."""
        raw = self.b.bitcast(v, _V16B)
        p = self.b.gep(ptr, [ir.Constant(_I64, offset)])
        self.b.store(self.shuffle(raw, raw, _BSWAP_WORDS), self.b.bitcast(p, _V16B.as_pointer()),
                     align=1)  # fmt: skip

    def vector(self, words: Sequence[ir.Value]) -> ir.Value:
        v: ir.Value = ir.Constant(_V4, ir.Undefined)
        for i, w in enumerate(words):
            v = self.b.insert_element(v, w, ir.Constant(_I32, i))
        return v

    def state(self, words: Sequence[ir.Value | int]) -> State:
        """(ABEF, CDGH) from words a..h, as Intel's code keeps them (element 0 first)."""
        a, b, c, d, e, f, g, h = words
        if all(isinstance(w, int) for w in words):
            return self.const([f, e, b, a]), self.const([h, g, d, c])
        return self.vector([f, e, b, a]), self.vector([h, g, d, c])

    def compress(self, states: list[State], blocks: list[list[ir.Value]]) -> list[State]:
        """64 rounds on each of len(states) independent streams, interleaved.

        blocks[s] holds stream s's 4 message vectors (word values). Each step is emitted
        for every stream before the next step, so the sha256rnds2 of one stream can issue
        while another's is in flight.
        """
        b = self.b
        w = [list(m) for m in blocks]
        s0 = [st[0] for st in states]
        s1 = [st[1] for st in states]
        streams = range(len(states))
        for i in range(16):
            if i >= 4:
                for s in streams:
                    t = b.call(self.msg1, [w[s][i - 4], w[s][i - 3]])
                    t = b.add(t, self.shuffle(w[s][i - 2], w[s][i - 1], [1, 2, 3, 4]))
                    w[s].append(b.call(self.msg2, [t, w[s][i - 1]]))
            m = [b.add(w[s][i], self.const(K[4 * i : 4 * i + 4])) for s in streams]
            for s in streams:
                s1[s] = b.call(self.rnds2, [s1[s], s0[s], m[s]])
            for s in streams:
                s0[s] = b.call(self.rnds2, [s0[s], s1[s], self.shuffle(m[s], m[s], [2, 3, 0, 0])])
        return [(b.add(s0[s], states[s][0]), b.add(s1[s], states[s][1])) for s in streams]

    def words(self, st: State) -> tuple[ir.Value, ir.Value]:
        """(a, b, c, d) and (e, f, g, h) from the ABEF/CDGH pair."""
        abef, cdgh = st
        tmp = self.shuffle(abef, abef, [3, 2, 1, 0])  # a b e f
        cd = self.shuffle(cdgh, cdgh, [1, 0, 3, 2])  # g h c d
        return self.shuffle(tmp, cd, [0, 1, 6, 7]), self.shuffle(tmp, cd, [2, 3, 4, 5])

    def sha256d_tail(self, mids: list[State], tails: list[ir.Value]) -> list[tuple]:
        """The two compressions after the midstates: header words 16-19, then the digest.

        Returns each stream's digest as word values (a, b, c, d), (e, f, g, h).
        """
        pad = [self.const(TAIL_PADDING[4 * i : 4 * i + 4]) for i in range(3)]
        firsts = self.compress(mids, [[t, *pad] for t in tails])
        dpad = [self.const(DIGEST_PADDING[4 * i : 4 * i + 4]) for i in range(2)]
        iv = self.state(IV)
        blocks = [[*self.words(st), *dpad] for st in firsts]
        return [self.words(st) for st in self.compress([iv] * len(mids), blocks)]

    def meets(self, digest: tuple[ir.Value, ir.Value], limbs_ptr: ir.Value) -> ir.Value:
        """i1: the digest, as a little-endian 256-bit integer, is <= the 8 limbs at limbs_ptr.

        Limb j of the integer is digest word j byte-swapped. With lt and gt the bit masks
        of the limbs below and above the target's, the highest differing limb is in
        exactly one of them, so hash <= target exactly when lt >= gt as integers.
        """
        b = self.b
        h = b.call(self._bswap8, [self.shuffle(digest[0], digest[1], list(range(8)))])
        t = b.load(b.bitcast(limbs_ptr, _V8.as_pointer()), align=4)
        mask_ty = ir.IntType(8)
        lt = b.bitcast(b.icmp_unsigned("<", h, t), mask_ty)
        gt = b.bitcast(b.icmp_unsigned(">", h, t), mask_ty)
        return b.icmp_unsigned(">=", lt, gt)


def _row(builder: ir.IRBuilder, arr, index: ir.Value) -> ir.Value:
    """i8* to row `index` of a 2-D numba array."""
    stride = cgutils.unpack_tuple(builder, arr.strides, 2)[0]
    return builder.gep(builder.bitcast(arr.data, _I8.as_pointer()), [builder.mul(index, stride)])


def _make_rows(streams: int):
    """The intrinsic that hashes rows i .. i + streams - 1, interleaved."""

    def rows(typingctx, headers, i, targets, shared, digests, meets, want_d, want_m):
        sig = types.void(headers, types.intp, targets, types.boolean, digests, meets,
                         types.boolean, types.boolean)  # fmt: skip

        def codegen(context, builder, signature, args):
            h_arr = context.make_array(signature.args[0])(context, builder, args[0])
            t_arr = context.make_array(signature.args[2])(context, builder, args[2])
            d_arr = context.make_array(signature.args[4])(context, builder, args[4])
            m_arr = context.make_array(signature.args[5])(context, builder, args[5])
            i, shared, want_d, want_m = args[1], args[3], args[6], args[7]
            em = Emitter(builder)
            index = [builder.add(i, ir.Constant(i.type, s)) for s in range(streams)]
            src = [_row(builder, h_arr, r) for r in index]
            iv = em.state(IV)
            mids = em.compress([iv] * streams, [[em.load_words(p, 16 * k) for k in range(4)]
                                                for p in src])  # fmt: skip
            digests = em.sha256d_tail(mids, [em.load_words(p, 64) for p in src])
            with builder.if_then(want_d):
                for r, (abcd, efgh) in zip(index, digests, strict=True):
                    dst = _row(builder, d_arr, r)
                    em.store_words(dst, 0, abcd)
                    em.store_words(dst, 16, efgh)
            with builder.if_then(want_m):
                m_data = builder.bitcast(m_arr.data, _I8.as_pointer())
                for r, digest in zip(index, digests, strict=True):
                    t_row = builder.select(shared, ir.Constant(r.type, 0), r)
                    ok = em.meets(digest, _row(builder, t_arr, t_row))
                    builder.store(builder.zext(ok, _I8), builder.gep(m_data, [r]))
            return context.get_dummy_value()

        return sig, codegen

    return named_intrinsic(rows, f"rows{streams}")


def _make_scan(streams: int):
    """The intrinsic that checks nonces nonce .. nonce + streams - 1; returns the hit mask."""

    def emit(builder, words, nonce, limbs):
        em = Emitter(builder)
        mid = em.state(words[:8])
        bswap = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I32, [_I32]), "llvm.bswap.i32"
        )
        tails = []
        for s in range(streams):
            n = builder.add(nonce, ir.Constant(_I32, s))
            tails.append(em.vector([*words[8:11], builder.call(bswap, [n])]))
        digests = em.sha256d_tail([mid] * streams, tails)
        mask = ir.Constant(_I64, 0)
        for s, digest in enumerate(digests):
            bit = builder.shl(builder.zext(em.meets(digest, limbs), _I64), ir.Constant(_I64, s))
            mask = builder.or_(mask, bit)
        return mask

    return scan_intrinsic(f"scan{streams}", emit)


def _prepare(builder: ir.IRBuilder, data: ir.Value) -> list[ir.Value]:
    em = Emitter(builder)
    (mid,) = em.compress([em.state(IV)], [[em.load_words(data, 16 * k) for k in range(4)]])
    abcd, efgh = em.words(mid)
    tail = em.load_words(data, 64)
    out = [builder.extract_element(v, ir.Constant(_I32, k))
           for v in (abcd, efgh) for k in range(4)]  # fmt: skip
    return out + [builder.extract_element(tail, ir.Constant(_I32, k)) for k in range(3)]


prepare = prepare_intrinsic("prepare", _prepare)  # header -> hashing.loops.PREPARED


@intrinsic
def _header_meets(typingctx, header, targets):
    """One header (80 bytes) against targets[0]."""
    sig = types.boolean(header, targets)

    def codegen(context, builder, signature, args):
        h_arr = context.make_array(signature.args[0])(context, builder, args[0])
        t_arr = context.make_array(signature.args[1])(context, builder, args[1])
        em = Emitter(builder)
        src = builder.bitcast(h_arr.data, _I8.as_pointer())
        (mid,) = em.compress([em.state(IV)], [[em.load_words(src, 16 * k) for k in range(4)]])
        (digest,) = em.sha256d_tail([mid], [em.load_words(src, 64)])
        return em.meets(digest, builder.bitcast(t_arr.data, _I8.as_pointer()))

    return sig, codegen


_rows1 = _make_rows(1)
_rows2 = _make_rows(2)
_rows3 = _make_rows(3)
_rows4 = _make_rows(4)
_scan1 = _make_scan(1)
_scan2 = _make_scan(2)
_scan3 = _make_scan(3)
_scan4 = _make_scan(4)


@nb.njit(nogil=True, cache=True)
def header_meets(header, targets):
    """One header (bytes or uint8 array of 80) against targets[0] (uint32 (1, 8) limbs)."""
    return _header_meets(header, targets)


@nb.njit(nogil=True, inline="always")
def _claimed(streams, headers, i, end, targets, shared, digests, meets, want_d, want_m):
    """Rows [i, end) of a claim, `streams` interleaved at a time, the rest one at a time."""
    if streams == 4:
        while i + 4 <= end:
            _rows4(headers, i, targets, shared, digests, meets, want_d, want_m)
            i += 4
    elif streams == 3:
        while i + 3 <= end:
            _rows3(headers, i, targets, shared, digests, meets, want_d, want_m)
            i += 3
    elif streams == 2:
        while i + 2 <= end:
            _rows2(headers, i, targets, shared, digests, meets, want_d, want_m)
            i += 2
    while i < end:
        _rows1(headers, i, targets, shared, digests, meets, want_d, want_m)
        i += 1


@nb.njit(nogil=True, inline="always")
def _scan(streams, prepared, nonce, targets):
    if streams == 4:
        return _scan4(prepared, nonce, targets)
    if streams == 3:
        return _scan3(prepared, nonce, targets)
    if streams == 2:
        return _scan2(prepared, nonce, targets)
    return _scan1(prepared, nonce, targets)


@nb.njit(nogil=True, cache=True)
def batch(streams, headers, targets, digests, meets, lo, hi, claims):
    """hashing.lanes.batch's contract, `streams` (1 to 4) headers interleaved at a time;
    the rows left over in a claim go one at a time."""
    run_batch(_claimed, streams, headers, targets, digests, meets, lo, hi, claims)


@nb.njit(nogil=True, cache=True)
def serve(streams, box, spin):
    """hashing.lanes.serve's contract, with this module's `batch`."""
    handoff.serve(batch, streams, box, spin)


@nb.njit(nogil=True, cache=True)
def scan(streams, header, targets, start, count, found):
    """hashing.lanes.scan's contract, `streams` (1 to 4) nonces interleaved at a time."""
    return run_scan(_scan, streams, prepare(header), targets, start, count, found)
