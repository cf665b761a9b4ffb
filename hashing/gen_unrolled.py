"""Generator of `hashing/_sha256_unrolled.py`: SHA-256d written out round by round.

Why generated: LLVM vectorises a loop over 16 independent headers ("lanes") only when
the loop body is straight-line code over local variables. A loop of 64 rounds, or
round state kept in arrays, defeats the vectoriser and runs 1.5-10x slower. So every
one of the 192 rounds of a header's SHA-256d is written out, the padding words are
literal constants (LLVM folds the message schedule that depends only on them), and
every expression is wrapped in `np.uint32(...)` because numba otherwise widens
unsigned 32-bit arithmetic to 64 bits, which halves the vector width.

Run `python -m hashing.gen_unrolled` after changing this file; a test checks that the
committed module is exactly what this generator produces.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

K = [
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
    0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
    0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
    0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
    0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
    0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
    0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
    0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
    0xC67178F2,
]
IV = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
    0x5BE0CD19,
]
M32 = 0xFFFFFFFF
LANES = 16


def _rotr_const(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & M32


class Emitter:
    """Emits straight-line SHA-256 code; tracks which words are compile-time constants."""

    def __init__(self, indent: str) -> None:
        self.indent = indent
        self.lines: list[str] = []
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line: str) -> None:
        self.lines.append(self.indent + line)

    @staticmethod
    def u(expr: str) -> str:
        return f"np.uint32({expr})"

    def rotr(self, x: str, n: int) -> str:
        lo = self.u(f"{x} >> np.uint32({n})")
        hi = self.u(f"{x} << np.uint32({32 - n})")
        return self.u(f"{lo} | {hi}")

    def compress(self, state: Sequence[str | int], words: Sequence[str | int],
                 tag: str) -> list[str]:  # fmt: skip
        """One SHA-256 compression. `state`/`words` items are variable names or int constants.

        Returns the names of the 8 output words (state + compressed state).
        """
        w: list[str | int] = list(words)
        # Message schedule: constant words fold at generation time, others become variables.
        for t in range(16, 64):
            w2, w7, w15, w16 = w[t - 2], w[t - 7], w[t - 15], w[t - 16]
            if (isinstance(w2, int) and isinstance(w7, int) and isinstance(w15, int)
                    and isinstance(w16, int)):  # fmt: skip
                sig1 = _rotr_const(w2, 17) ^ _rotr_const(w2, 19) ^ (w2 >> 10)
                sig0 = _rotr_const(w15, 7) ^ _rotr_const(w15, 18) ^ (w15 >> 3)
                w.append((sig1 + w7 + sig0 + w16) & M32)
                continue
            terms = []
            for v, kind in ((w2, 1), (w7, None), (w15, 0), (w16, None)):
                if kind is None or isinstance(v, int):
                    if isinstance(v, int):
                        if kind == 1:
                            v = _rotr_const(v, 17) ^ _rotr_const(v, 19) ^ (v >> 10)
                        elif kind == 0:
                            v = _rotr_const(v, 7) ^ _rotr_const(v, 18) ^ (v >> 3)
                        terms.append(f"np.uint32({v:#010x})")
                    else:
                        terms.append(v)
                elif kind == 1:
                    shr = self.u(f"{v} >> np.uint32(10)")
                    terms.append(self.u(f"{self.rotr(v, 17)} ^ {self.rotr(v, 19)} ^ {shr}"))
                else:
                    shr = self.u(f"{v} >> np.uint32(3)")
                    terms.append(self.u(f"{self.rotr(v, 7)} ^ {self.rotr(v, 18)} ^ {shr}"))
            name = f"w{tag}_{t}"
            self.emit(f"{name} = {self.u(' + '.join(terms))}")
            w.append(name)

        def lit(v: str | int) -> str:
            return f"np.uint32({v:#010x})" if isinstance(v, int) else v

        a, b, c, d, e, f, g, h = (lit(v) for v in state)
        for t in range(64):
            wt = w[t]
            kw = (K[t] + wt) & M32 if isinstance(wt, int) else None
            s1 = self.u(f"{self.rotr(e, 6)} ^ {self.rotr(e, 11)} ^ {self.rotr(e, 25)}")
            fg = self.u(f"{f} ^ {g}")
            ch = self.u(f"{g} ^ {self.u(f'{e} & {fg}')}")
            if kw is None:
                t1_expr = f"{h} + {s1} + {ch} + np.uint32({K[t]:#010x}) + {wt}"
            else:
                t1_expr = f"{h} + {s1} + {ch} + np.uint32({kw:#010x})"
            t1 = f"t{tag}_{t}"
            self.emit(f"{t1} = {self.u(t1_expr)}")
            s0 = self.u(f"{self.rotr(a, 2)} ^ {self.rotr(a, 13)} ^ {self.rotr(a, 22)}")
            ab_and = self.u(f"{a} & {b}")
            ab_or = self.u(f"{a} | {b}")
            maj = self.u(f"{ab_and} | {self.u(f'{c} & {ab_or}')}")
            na, ne = f"a{tag}_{t}", f"e{tag}_{t}"
            self.emit(f"{ne} = {self.u(f'{d} + {t1}')}")
            self.emit(f"{na} = {self.u(f'{t1} + {s0} + {maj}')}")
            a, b, c, d, e, f, g, h = na, a, b, c, ne, e, f, g
        out = []
        for i, (s, v) in enumerate(zip(state, (a, b, c, d, e, f, g, h), strict=True)):
            name = f"h{tag}_{i}"
            self.emit(f"{name} = {self.u(f'{lit(s)} + {v}')}")
            out.append(name)
        return out


LANES = 16

HEADER = """\
\"\"\"SHA-256d of 80-byte headers, one round per line (written by hashing/gen_unrolled.py).

Do not edit: change hashing/gen_unrolled.py and run `python -m hashing.gen_unrolled`.
Each kernel walks its batch in chunks of LANES headers laid out lane-wise in one local
buffer; the inner `for lane in range(LANES)` loop is straight-line code that LLVM
vectorises across the lanes (16 x 32-bit = one AVX-512 register).
\"\"\"

import numba as nb
import numpy as np

LANES = 16
"""


def _second_block(tail: list[str]) -> list[str | int]:
    # Bytes 64..79 of the header, then padding: 0x80, zeros, bit length 640.
    return [*tail, 0x80000000, *([0] * 10), 640]


def _third_block(digest: list[str]) -> list[str | int]:
    # The first digest (32 bytes), then padding: 0x80, zeros, bit length 256.
    return [*digest, 0x80000000, *([0] * 6), 256]


def _lane_body(indent: str, first_words: list[str] | None) -> str:
    """The lane loop: loads, the SHA-256d rounds, stores of the 8 digest words to rows 20-27.

    With `first_words` None the first 64 bytes are compressed per lane (batch hashing);
    otherwise they name the midstate variables shared by every lane (nonce scans).
    """
    em = Emitter(indent + "    ")
    if first_words is None:
        for k in range(20):
            em.emit(f"x{k} = buf[{k * LANES} + lane]")
        mid = em.compress(IV, [f"x{k}" for k in range(16)], "a")
    else:
        em.emit(f"x19 = buf[{19 * LANES} + lane]")
        mid = first_words
    first = em.compress(mid, _second_block([f"x{k}" for k in range(16, 20)]), "b")
    second = em.compress(IV, _third_block(first), "c")
    for i, name in enumerate(second):
        em.emit(f"buf[{(20 + i) * LANES} + lane] = {name}")
    return f"{indent}for lane in range(LANES):\n" + "\n".join(em.lines) + "\n"


def _midstate_body(indent: str) -> str:
    em = Emitter(indent)
    mid = em.compress(IV, [f"x{k}" for k in range(16)], "m")
    for i, name in enumerate(mid):
        em.emit(f"m{i} = {name}")
    return "\n".join(em.lines) + "\n"


HASH_BATCH = """

@nb.njit(nogil=True, cache=True)
def hash_batch(headers, targets, digests, meets, lo, hi):
    \"\"\"SHA-256d of rows [lo, hi) of `headers` (uint8 (N, 80), C order).

    digests: uint8 (N, 32) receives the digests, or has 0 rows when not wanted.
    meets: bool (N,) receives hash <= target, or has length 0 when not wanted.
    targets: uint32 (M, 8) little-endian limbs of each row's target (M = N), or of one
    shared target (M = 1).
    \"\"\"
    buf = np.zeros(28 * LANES, np.uint32)
    want_digests = digests.shape[0] > 0
    want_meets = meets.shape[0] > 0
    shared_target = targets.shape[0] == 1
    base = lo
    while base < hi:
        m = min(LANES, hi - base)
        for lane in range(LANES):
            r = base + lane if lane < m else base
            for k in range(20):
                buf[k * LANES + lane] = (
                    (np.uint32(headers[r, 4 * k]) << np.uint32(24))
                    | (np.uint32(headers[r, 4 * k + 1]) << np.uint32(16))
                    | (np.uint32(headers[r, 4 * k + 2]) << np.uint32(8))
                    | np.uint32(headers[r, 4 * k + 3])
                )
{body}
        for lane in range(m):
            i = base + lane
            if want_digests:
                for k in range(8):
                    v = buf[(20 + k) * LANES + lane]
                    digests[i, 4 * k] = np.uint8(v >> np.uint32(24))
                    digests[i, 4 * k + 1] = np.uint8((v >> np.uint32(16)) & np.uint32(0xFF))
                    digests[i, 4 * k + 2] = np.uint8((v >> np.uint32(8)) & np.uint32(0xFF))
                    digests[i, 4 * k + 3] = np.uint8(v & np.uint32(0xFF))
            if want_meets:
                t = 0 if shared_target else i
                meets[i] = limbs_le(buf, lane, targets, t)
        base += LANES


@nb.njit(nogil=True, cache=True, inline="always")
def bswap32(v):
    return np.uint32(
        (v >> np.uint32(24))
        | ((v >> np.uint32(8)) & np.uint32(0xFF00))
        | ((v << np.uint32(8)) & np.uint32(0xFF0000))
        | np.uint32(v << np.uint32(24))
    )


@nb.njit(nogil=True, cache=True, inline="always")
def limbs_le(buf, lane, targets, t):
    \"\"\"Branch-free: is the digest in `lane` of `buf`, as a little-endian integer, <= target?

    The integer's most significant 32-bit limb is the byte-swapped last digest word.
    \"\"\"
    lt = False
    eq = True
    for j in range(7, -1, -1):
        h = bswap32(buf[(20 + j) * LANES + lane])
        tj = targets[t, j]
        lt = lt | (eq & (h < tj))
        eq = eq & (h == tj)
    return lt | eq


@nb.njit(nogil=True, cache=True)
def scan(words, targets, start, count, found):
    \"\"\"Nonces in [start, start + count) whose header meets targets[0].

    words: uint32 (20,) big-endian header words (word 19, the nonce, is ignored).
    found: uint32 (capacity,) receives the nonces; returns how many were found (it may
    exceed the capacity, in which case only the first `capacity` are stored).
    \"\"\"
    buf = np.zeros(28 * LANES, np.uint32)
{xs}
{midstate}
    n_found = 0
    base = start
    end = start + count
    while base < end:
        m = min(LANES, end - base)
        for lane in range(LANES):
            buf[19 * LANES + lane] = bswap32(np.uint32((base + lane) & 0xFFFFFFFF))
{scan_body}
        for lane in range(m):
            if limbs_le(buf, lane, targets, 0):
                if n_found < found.shape[0]:
                    found[n_found] = np.uint32((base + lane) & 0xFFFFFFFF)
                n_found += 1
        base += LANES
    return n_found
"""


def generate() -> str:
    xs = "\n".join(f"    x{k} = words[{k}]" for k in range(19))
    return HEADER + HASH_BATCH.format(
        body=_lane_body(" " * 8, None),
        xs=xs,
        midstate=_midstate_body(" " * 4),
        scan_body=_lane_body(" " * 8, [f"m{i}" for i in range(8)]),
    )


TARGET = Path(__file__).with_name("_sha256_unrolled.py")


def main() -> int:
    TARGET.write_text(generate())
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
