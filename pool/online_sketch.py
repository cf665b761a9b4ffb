"""How many distinct names are online across several pool processes: a HyperLogLog
sketch of the names each process saw, merged by the cluster's front.

A cluster's processes each know the accounts and workers that mined through them; one
account whose rigs the kernel spread over two processes is online in both, so summing
the processes' counts would count it twice. Sending every name to the front would cost
megabytes per request at national scale. So a process sends the names' 64-bit hashes
while there are at most EXACT_MAX of them (a site's pool: the count is exact), and past
that a HyperLogLog sketch of 2^14 registers (at most 16 KiB, less while it is sparse, as
it is compressed), which merges exactly (the register-wise maximum is the sketch of the
union) and counts within about 1 % (one standard error 0.81 %) at any size.

Pure: no clock, no I/O; the stats API serves `encode()`, pool.cluster.merge decodes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import zlib
from collections.abc import Iterable
from typing import Any

PRECISION = 14
REGISTERS = 1 << PRECISION
_TAIL_BITS = 64 - PRECISION
_TAIL_MASK = (1 << _TAIL_BITS) - 1
_ALPHA = 0.7213 / (1.0 + 1.079 / REGISTERS)
EXACT_MAX = 2048  # names kept exactly (16 KiB on the wire at most) before the sketch


class SketchError(ValueError):
    """A sketch that cannot be decoded (another version, or not a sketch at all)."""


class OnlineSketch:
    """The names seen, exactly (their 64-bit BLAKE2b hashes) up to EXACT_MAX of them,
    then as the registers of a HyperLogLog sketch."""

    __slots__ = ("hashes", "registers")

    def __init__(self, hashes: set[int] | None = None, registers: bytes | None = None) -> None:
        if registers is not None and len(registers) != REGISTERS:
            raise SketchError(f"expected {REGISTERS} registers, got {len(registers)}")
        self.hashes: set[int] | None = set() if hashes is None and registers is None else hashes
        self.registers: bytearray | None = None if registers is None else bytearray(registers)
        if self.hashes is not None and len(self.hashes) > EXACT_MAX:
            self._to_registers()

    @classmethod
    def of(cls, names: Iterable[str]) -> OnlineSketch:
        sketch = cls()
        for name in names:
            sketch.add(name)
        return sketch

    @property
    def exact(self) -> bool:
        return self.hashes is not None

    def add(self, name: str) -> None:
        x = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
        if self.hashes is not None:
            self.hashes.add(x)
            if len(self.hashes) > EXACT_MAX:
                self._to_registers()
        else:
            self._register(x)

    def _register(self, x: int) -> None:
        assert self.registers is not None
        index, tail = x >> _TAIL_BITS, x & _TAIL_MASK
        rank = _TAIL_BITS - tail.bit_length() + 1
        if rank > self.registers[index]:
            self.registers[index] = rank

    def _to_registers(self) -> None:
        hashes, self.hashes, self.registers = self.hashes or set(), None, bytearray(REGISTERS)
        for x in hashes:
            self._register(x)

    def merge(self, other: OnlineSketch) -> OnlineSketch:
        """The sketch of the union of both sketches' names."""
        if self.hashes is not None and other.hashes is not None:
            return OnlineSketch(hashes=self.hashes | other.hashes)
        mine, theirs = self._as_registers(), other._as_registers()
        return OnlineSketch(registers=bytes(map(max, mine, theirs)))

    def _as_registers(self) -> bytes:
        if self.registers is not None:
            return bytes(self.registers)
        copy = OnlineSketch(hashes=set(self.hashes or ()))
        copy._to_registers()
        return bytes(copy.registers or b"")

    def count(self) -> int:
        if self.hashes is not None:
            return len(self.hashes)
        assert self.registers is not None
        zeros = self.registers.count(0)
        estimate = _ALPHA * REGISTERS * REGISTERS / math.fsum(2.0 ** -r for r in self.registers)
        if estimate <= 2.5 * REGISTERS and zeros:
            estimate = REGISTERS * math.log(REGISTERS / zeros)  # linear counting
        return round(estimate)

    # -- on the wire

    def encode(self) -> dict[str, Any]:
        if self.hashes is not None:
            packed = b"".join(x.to_bytes(8, "big") for x in sorted(self.hashes))
            return {"precision": PRECISION, "hashes": base64.b64encode(packed).decode(),
                    "registers": None}
        packed = zlib.compress(bytes(self.registers or b""), 6)
        return {"precision": PRECISION, "hashes": None,
                "registers": base64.b64encode(packed).decode()}

    @classmethod
    def decode(cls, data: Any) -> OnlineSketch:
        if not isinstance(data, dict) or data.get("precision") != PRECISION:
            raise SketchError(f"expected a sketch of precision {PRECISION}")
        if data.get("hashes") is not None:
            raw = _base64(data["hashes"], 8 * EXACT_MAX)
            if len(raw) % 8:
                raise SketchError("hashes: expected 8 bytes each")
            return cls(hashes={int.from_bytes(raw[i:i + 8], "big")
                               for i in range(0, len(raw), 8)})  # fmt: skip
        packed = _base64(data.get("registers"), 4 * REGISTERS)
        try:
            registers = zlib.decompressobj().decompress(packed, REGISTERS + 1)
        except zlib.error as exc:
            raise SketchError(f"registers: {exc}") from None
        if any(r > _TAIL_BITS + 1 for r in registers):
            raise SketchError("a register is out of range")
        return cls(registers=registers)


def _base64(text: Any, most: int) -> bytes:
    if not isinstance(text, str) or len(text) > (most * 4) // 3 + 4:
        raise SketchError(f"expected base64 text of at most {most} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise SketchError(f"not base64: {exc}") from None


def union(sketches: Iterable[Any]) -> OnlineSketch:
    """The sketch of the union of encoded sketches (SketchError if one cannot be read)."""
    merged = OnlineSketch()
    for data in sketches:
        merged = merged.merge(OnlineSketch.decode(data))
    return merged


def union_count(sketches: Iterable[Any]) -> int | None:
    """The number of distinct names in the union of encoded sketches; None if any cannot
    be decoded (the caller falls back to what it knows)."""
    try:
        return union(sketches).count()
    except SketchError:
        return None
