"""Bitcoin's wire encodings: CompactSize, script pushes, CScriptNum and the BIP34 height.

The coinbase scriptSig is built from these pieces, and consensus cares about the exact
bytes (BIP34 demands the minimal push), so each encoder returns the one canonical form.
"""

from __future__ import annotations

import struct

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60
OP_RETURN = 0x6A


def compact_size(n: int) -> bytes:
    """CompactSize ("varint") length prefix used before every vector on the wire."""
    if n < 0:
        raise ValueError(f"compact size cannot be negative: {n}")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    if n <= 0xFFFFFFFFFFFFFFFF:
        return b"\xff" + struct.pack("<Q", n)
    raise ValueError(f"compact size too large: {n}")


class Reader:
    """A cursor over bytes; every read past the end raises ValueError instead of
    silently returning short data (a truncated block must never parse)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = memoryview(bytes(data))
        self.pos = pos

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(
                f"truncated data: wanted {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def peek(self, n: int) -> bytes:
        return bytes(self.data[self.pos : self.pos + n])

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def i32(self) -> int:
        return int(struct.unpack("<i", self.read(4))[0])

    def compact_size(self) -> int:
        first = self.u8()
        if first < 0xFD:
            return first
        if first == 0xFD:
            n, minimum = struct.unpack("<H", self.read(2))[0], 0xFD
        elif first == 0xFE:
            n, minimum = struct.unpack("<I", self.read(4))[0], 0x10000
        else:
            n, minimum = struct.unpack("<Q", self.read(8))[0], 0x100000000
        if n < minimum:
            raise ValueError(f"non-canonical compact size {n} at offset {self.pos}")
        return int(n)

    def var_bytes(self) -> bytes:
        return self.read(self.compact_size())

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def push_data(data: bytes) -> bytes:
    """The minimal push of `data` as raw bytes (no small-integer opcodes: the
    caller decides whether a single byte 1..16 should be OP_n)."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((OP_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + struct.pack("<H", n) + data
    return bytes((OP_PUSHDATA4,)) + struct.pack("<I", n) + data


def script_num(n: int) -> bytes:
    """CScriptNum encoding: minimal little-endian magnitude with a sign bit."""
    if n == 0:
        return b""
    neg = n < 0
    absval = -n if neg else n
    out = bytearray()
    while absval:
        out.append(absval & 0xFF)
        absval >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def decode_script_num(data: bytes) -> int:
    """Inverse of script_num (accepts any length; minimality is checked by callers)."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def push_int(n: int) -> bytes:
    """How CScript << n pushes an integer: OP_0, OP_1NEGATE, OP_1..OP_16, else the
    minimal CScriptNum bytes."""
    if n == 0:
        return bytes((OP_0,))
    if n == -1:
        return bytes((OP_1NEGATE,))
    if 1 <= n <= 16:
        return bytes((OP_1 + n - 1,))
    return push_data(script_num(n))


def bip34_height(height: int) -> bytes:
    """The BIP34 block height as it must open the coinbase scriptSig.

    Bitcoin Core builds it as `CScript() << nHeight`, so heights 1..16 are OP_1..OP_16
    and larger heights are the minimal CScriptNum push (128 needs two bytes: 0x80 0x00).
    """
    if height < 0:
        raise ValueError(f"block height cannot be negative: {height}")
    return push_int(height)


def read_bip34_height(script_sig: bytes) -> int | None:
    """The height a coinbase scriptSig claims, or None when it does not open with a
    push that reads as a height."""
    if not script_sig:
        return None
    op = script_sig[0]
    if op == OP_0:
        return 0
    if OP_1 <= op <= OP_16:
        return op - OP_1 + 1
    if 1 <= op <= 8 and len(script_sig) >= 1 + op:
        return decode_script_num(script_sig[1 : 1 + op])
    return None
