"""SHA-256d of 8 or 16 headers at once, one header per vector lane (AVX2 / AVX-512).

The kernels are written as LLVM IR, round by round, through numba intrinsics: every
value is an explicit `<N x i32>` vector, so the code is vectorised by construction (no
reliance on LLVM's loop vectoriser), rotations are `llvm.fshr` (one `vprord` with
AVX-512, two shifts and an or with AVX2) and the words that are padding constants are
folded here, before LLVM sees them. Emitting IR directly also keeps the cold compile
short: numba's front end never sees the 192 unrolled rounds.

One chunk of N headers: each header's 20 words are loaded as whole vectors and
transposed (a log2(N)-stage shuffle network) so that vector k holds word k of every
header; the digests are transposed back the same way. A chunk shorter than N repeats its
last header in the idle lanes and stores only the live ones.

The emitter lives in this file with the kernels it builds: numba's on-disk cache notices
changes to a kernel's own file only (see `hashing.loops`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numba as nb
from llvmlite import ir
from numba import types
from numba.core import cgutils

from hashing import handoff
from hashing.constants import DIGEST_PADDING, IV, M32, TAIL_PADDING, K
from hashing.loops import named_intrinsic, prepare_intrinsic, run_batch, run_scan, scan_intrinsic

_I1 = ir.IntType(1)
_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)

# a Python int is a constant, folded before LLVM sees it
Word: TypeAlias = int | ir.Value


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & M32


class Emitter:
    """Straight-line SHA-256 over `width` lanes (1: plain i32 scalars).

    Operations on two constants are computed here; the rest become IR instructions.
    """

    def __init__(self, builder: ir.IRBuilder, width: int) -> None:
        self.b = builder
        self.width = width
        self.ty = _I32 if width == 1 else ir.VectorType(_I32, width)
        suffix = "i32" if width == 1 else f"v{width}i32"
        module = builder.module
        self._fshr = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.ty, [self.ty] * 3), f"llvm.fshr.{suffix}"
        )
        self._bswap = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.ty, [self.ty]), f"llvm.bswap.{suffix}"
        )

    def const(self, value: int) -> ir.Constant:
        c = ir.Constant(_I32, value & M32)
        return c if self.width == 1 else ir.Constant(self.ty, [c] * self.width)

    def splat(self, scalar: ir.Value) -> ir.Value:
        """An i32 value in every lane."""
        undef = ir.Constant(self.ty, ir.Undefined)
        one = self.b.insert_element(undef, scalar, ir.Constant(_I32, 0))
        return self.shuffle(one, undef, [0] * self.width)

    def val(self, x: Word) -> ir.Value:
        return self.const(x) if isinstance(x, int) else x

    def add(self, *xs: Word) -> Word:
        total = sum(x for x in xs if isinstance(x, int)) & M32
        values = [x for x in xs if not isinstance(x, int)]
        if not values:
            return total
        acc = values[0]
        for v in values[1:]:
            acc = self.b.add(acc, v)
        return self.b.add(acc, self.const(total)) if total else acc

    def _binary(self, a: Word, c: Word, op: str) -> Word:
        if isinstance(a, int) and isinstance(c, int):
            return {"xor": a ^ c, "and": a & c, "or": a | c}[op]
        fn = {"xor": self.b.xor, "and": self.b.and_, "or": self.b.or_}[op]
        return fn(self.val(a), self.val(c))

    def xor(self, *xs: Word) -> Word:
        acc = xs[0]
        for x in xs[1:]:
            acc = self._binary(acc, x, "xor")
        return acc

    def and_(self, a: Word, c: Word) -> Word:
        return self._binary(a, c, "and")

    def or_(self, a: Word, c: Word) -> Word:
        return self._binary(a, c, "or")

    def rotr(self, x: Word, n: int) -> Word:
        if isinstance(x, int):
            return _rotr(x, n)
        return self.b.call(self._fshr, [x, x, self.const(n)])

    def shr(self, x: Word, n: int) -> Word:
        return x >> n if isinstance(x, int) else self.b.lshr(x, self.const(n))

    def bswap(self, x: ir.Value) -> ir.Value:
        return self.b.call(self._bswap, [x])

    def compress(self, state: Sequence[Word], block: Sequence[Word]) -> list[Word]:
        """One SHA-256 compression: the 8 words of the new state."""
        w = list(block)
        for t in range(16, 64):
            x2, x15 = w[t - 2], w[t - 15]
            s1 = self.xor(self.rotr(x2, 17), self.rotr(x2, 19), self.shr(x2, 10))
            s0 = self.xor(self.rotr(x15, 7), self.rotr(x15, 18), self.shr(x15, 3))
            w.append(self.add(s1, w[t - 7], s0, w[t - 16]))
        a, b, c, d, e, f, g, h = state
        for t in range(64):
            s1 = self.xor(self.rotr(e, 6), self.rotr(e, 11), self.rotr(e, 25))
            ch = self.xor(g, self.and_(e, self.xor(f, g)))
            t1 = self.add(h, s1, ch, K[t], w[t])
            s0 = self.xor(self.rotr(a, 2), self.rotr(a, 13), self.rotr(a, 22))
            maj = self.or_(self.and_(a, b), self.and_(c, self.or_(a, b)))
            a, b, c, d, e, f, g, h = self.add(t1, s0, maj), a, b, c, self.add(d, t1), e, f, g
        return [self.add(s, v) for s, v in zip(state, (a, b, c, d, e, f, g, h), strict=True)]

    def sha256d_tail(self, midstate: Sequence[Word], tail: Sequence[Word]) -> list[ir.Value]:
        """The two compressions after the midstate: header words 16-19, then the digest."""
        first = self.compress(midstate, [*tail, *TAIL_PADDING])
        return [self.val(x) for x in self.compress(IV, [*first, *DIGEST_PADDING])]

    def meets(self, words: Sequence[ir.Value], limbs: Sequence[ir.Value]) -> ir.Value:
        """Per lane: the digest, as a little-endian 256-bit integer, is <= the target.

        Limb j of the integer is digest word j byte-swapped; limb 7 is the most
        significant, so each higher limb overrides the verdict of the lower ones.
        """
        b = self.b
        true = ir.Constant(_I1, 1)
        le: ir.Value = ir.Constant(ir.VectorType(_I1, self.width), [true] * self.width)
        for j in range(8):
            h = self.bswap(words[j])
            lt = b.icmp_unsigned("<", h, limbs[j])
            eq = b.icmp_unsigned("==", h, limbs[j])
            le = b.or_(lt, b.and_(eq, le))
        return le

    def shuffle(self, a: ir.Value, c: ir.Value, idx: Sequence[int]) -> ir.Value:
        mask = ir.Constant(ir.VectorType(_I32, len(idx)), [ir.Constant(_I32, i) for i in idx])
        return self.b.shuffle_vector(a, c, mask)

    def transpose(self, rows: list[ir.Value]) -> list[ir.Value]:
        """Transpose each block of len(rows) columns (len(rows) divides `width`).

        Stage d swaps bit d of the row index with bit d of the column index wherever they
        differ; after every bit, element (r, c) of a block has moved to (c, r). With
        `width` rows that is a plain transpose; with 8 rows of 16, word-major (vector k =
        word k of every lane) becomes lane-major (vector r = lane r's 8 words, then lane
        r + 8's), and back: the map is its own inverse.
        """
        n = self.width
        d = len(rows) // 2
        while d:
            rows = [
                self.shuffle(
                    rows[r], rows[r ^ d],
                    [c if (c & d) == (r & d) else n + (c ^ d) for c in range(n)],
                )
                for r in range(len(rows))
            ]  # fmt: skip
            d //= 2
        return rows

    def load(self, ptr: ir.Value, byte_offset: int) -> ir.Value:
        p = self.b.gep(ptr, [ir.Constant(_I64, byte_offset)])
        return self.b.load(self.b.bitcast(p, self.ty.as_pointer()), align=1)


def _row_pointers(builder: ir.IRBuilder, data: ir.Value, stride: ir.Value, base: ir.Value,
                  count: ir.Value, width: int) -> list[ir.Value]:
    """Pointers to rows base+0 .. base+width-1; lanes past `count` repeat the last row."""
    last = builder.sub(count, ir.Constant(count.type, 1))
    out = []
    for lane in range(width):
        k = ir.Constant(count.type, lane)
        row = builder.add(base, builder.select(builder.icmp_signed("<", k, last), k, last))
        out.append(builder.gep(data, [builder.mul(row, stride)]))
    return out


def _header_words(em: Emitter, rows: list[ir.Value]) -> list[ir.Value]:
    """The 20 big-endian words of each lane's header, word k of every lane in vector k."""
    n = em.width
    words: list[ir.Value] = []
    for start in range(0, 16, n):  # words 0-15, n at a time
        words += em.transpose([em.load(r, 4 * start) for r in rows])
    tail_start = 20 - n  # words 16-19: the last n words of the header, transposed
    tail = em.transpose([em.load(r, 4 * tail_start) for r in rows])
    words += tail[16 - tail_start :]
    return [em.bswap(w) for w in words]


def _target_limbs(em: Emitter, rows: list[ir.Value]) -> list[ir.Value]:
    """Eight vectors: limb j of each lane's target (uint32 (8,) rows)."""
    b, n = em.b, em.width
    row_ty = ir.VectorType(_I32, 8)
    loaded = [b.load(b.bitcast(r, row_ty.as_pointer()), align=4) for r in rows]
    # Vector r = the targets of lanes r, r + 8, ... side by side, then 8-row transposed.
    packed = loaded[:8]
    for q in range(1, n // 8):
        packed = [em.shuffle(packed[r], loaded[8 * q + r], list(range(8 * (q + 1))))
                  for r in range(8)]  # fmt: skip
    return em.transpose(packed)


def _digest_rows(em: Emitter, digest: list[ir.Value]) -> list[ir.Value]:
    """Each lane's 8 digest words in byte order, one <8 x i32> per lane."""
    rows = em.transpose([em.bswap(w) for w in digest])
    # Row r now holds the digests of lanes r, r + 8, ... side by side.
    out: list[ir.Value] = [ir.Constant(ir.VectorType(_I32, 8), ir.Undefined)] * em.width
    for r in range(8):
        for q in range(em.width // 8):
            out[8 * q + r] = em.shuffle(rows[r], rows[r], list(range(8 * q, 8 * q + 8)))
    return out


def _make_chunk(width: int):
    """The intrinsic that hashes rows [base, base + count) (count <= width) in one chunk."""

    def chunk(typingctx, headers, base, count, targets, shared, digests, meets, want_d, want_m):
        sig = types.void(headers, types.intp, types.intp, targets, types.boolean, digests,
                         meets, types.boolean, types.boolean)  # fmt: skip

        def codegen(context, builder, signature, args):
            h_arr = context.make_array(signature.args[0])(context, builder, args[0])
            t_arr = context.make_array(signature.args[3])(context, builder, args[3])
            d_arr = context.make_array(signature.args[5])(context, builder, args[5])
            m_arr = context.make_array(signature.args[6])(context, builder, args[6])
            base, count, shared, want_d, want_m = args[1], args[2], args[4], args[7], args[8]
            em = Emitter(builder, width)
            i8p = _I8.as_pointer()
            h_stride = cgutils.unpack_tuple(builder, h_arr.strides, 2)[0]
            rows = _row_pointers(builder, builder.bitcast(h_arr.data, i8p), h_stride, base,
                                 count, width)  # fmt: skip
            x = _header_words(em, rows)
            mid = em.compress(IV, x[:16])
            digest = em.sha256d_tail(mid, x[16:20])
            live = [builder.icmp_signed("<", ir.Constant(count.type, k), count)
                    for k in range(width)]  # fmt: skip
            with builder.if_then(want_d):
                d_stride = cgutils.unpack_tuple(builder, d_arr.strides, 2)[0]
                d_data = builder.bitcast(d_arr.data, i8p)
                row_ty = ir.VectorType(_I32, 8).as_pointer()
                for k, v in enumerate(_digest_rows(em, digest)):
                    with builder.if_then(live[k], likely=True):
                        row = builder.add(base, ir.Constant(base.type, k))
                        p = builder.gep(d_data, [builder.mul(row, d_stride)])
                        builder.store(v, builder.bitcast(p, row_ty), align=1)
            with builder.if_then(want_m):
                t_stride = cgutils.unpack_tuple(builder, t_arr.strides, 2)[0]
                zero = ir.Constant(base.type, 0)
                t_base = builder.select(shared, zero, base)
                t_count = builder.select(shared, ir.Constant(count.type, 1), count)
                t_rows = _row_pointers(builder, builder.bitcast(t_arr.data, i8p), t_stride,
                                       t_base, t_count, width)  # fmt: skip
                le = em.meets(digest, _target_limbs(em, t_rows))
                m_data = builder.bitcast(m_arr.data, i8p)
                for k in range(width):
                    with builder.if_then(live[k], likely=True):
                        p = builder.gep(m_data, [builder.add(base, ir.Constant(base.type, k))])
                        bit = builder.extract_element(le, ir.Constant(_I32, k))
                        builder.store(builder.zext(bit, _I8), p)
            return context.get_dummy_value()

        return sig, codegen

    return named_intrinsic(chunk, f"chunk{width}")


def _make_scan_chunk(width: int):
    """The intrinsic that checks nonces nonce .. nonce + width - 1; returns the lane mask."""

    def emit(builder, words, nonce, limbs):
        em = Emitter(builder, width)
        prepared = [em.splat(w) for w in words]
        lane = ir.Constant(em.ty, [ir.Constant(_I32, k) for k in range(width)])
        nonces = builder.add(em.splat(nonce), lane)
        digest = em.sha256d_tail(prepared[:8], [*prepared[8:11], em.bswap(nonces)])
        limbs_ptr = builder.bitcast(limbs, _I32.as_pointer())
        target = [em.splat(builder.load(builder.gep(limbs_ptr, [ir.Constant(_I64, j)])))
                  for j in range(8)]  # fmt: skip
        mask = builder.bitcast(em.meets(digest, target), ir.IntType(width))
        return builder.zext(mask, _I64)

    return scan_intrinsic(f"scan_chunk{width}", emit)


def _prepare(builder: ir.IRBuilder, data: ir.Value) -> list[ir.Value]:
    em = Emitter(builder, 1)
    x = [em.bswap(em.load(data, 4 * k)) for k in range(19)]
    return [em.val(v) for v in em.compress(IV, x[:16])] + x[16:19]


prepare = prepare_intrinsic("prepare", _prepare)  # header -> hashing.loops.PREPARED


_chunk8 = _make_chunk(8)
_chunk16 = _make_chunk(16)
_scan_chunk8 = _make_scan_chunk(8)
_scan_chunk16 = _make_scan_chunk(16)


@nb.njit(nogil=True, inline="always")
def _claimed(width, headers, base, end, targets, shared, digests, meets, want_d, want_m):
    """Rows [base, end) of a claim, `width` at a time."""
    while base < end:
        count = min(width, end - base)
        if width == 16:
            _chunk16(headers, base, count, targets, shared, digests, meets, want_d, want_m)
        else:
            _chunk8(headers, base, count, targets, shared, digests, meets, want_d, want_m)
        base += width


@nb.njit(nogil=True, inline="always")
def _scan_chunk(width, prepared, nonce, targets):
    if width == 16:
        return _scan_chunk16(prepared, nonce, targets)
    return _scan_chunk8(prepared, nonce, targets)


@nb.njit(nogil=True, cache=True)
def batch(width, headers, targets, digests, meets, lo, hi, claims):
    """SHA-256d of rows [lo, hi) of headers (uint8 (N, 80)), `width` (8 or 16) at a time.

    digests: uint8 (N, 32) receives the digests, or has 0 rows when not wanted.
    meets: bool (N,) receives hash <= target, or has length 0 when not wanted.
    targets: uint32 (N, 8) little-endian limbs of each row's target, or (1, 8) shared.
    claims: int64 (1,) counter (hashing.loops): rows are claimed a few at a time, so every
    thread working on the batch runs this with the same counter.
    """
    run_batch(_claimed, width, headers, targets, digests, meets, lo, hi, claims)


@nb.njit(nogil=True, cache=True)
def serve(width, box, spin):
    """A helper thread's share of posted batches (`hashing.handoff`): it runs `batch` on
    each job posted to `box` while it spins, and returns after `spin` ticks without one."""
    handoff.serve(batch, width, box, spin)


@nb.njit(nogil=True, cache=True)
def scan(width, header, targets, start, count, found):
    """Nonces in [start, start + count) whose header meets targets[0], `width` at a time.

    header: uint8 (80,) (the nonce bytes are ignored). found: uint32 (capacity,) receives
    the nonces; returns how many met the target (the first `capacity` are stored).
    """
    return run_scan(_scan_chunk, width, prepare(header), targets, start, count, found)
