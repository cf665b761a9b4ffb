"""extranonce1 allocation: 4 bytes, unique among the live connections of one process.

A configurable prefix (0-2 bytes) keeps several pool processes behind one address apart;
the rest is a counter that starts at a random point and skips values still in use.
"""

from __future__ import annotations

import secrets

EXTRANONCE1_SIZE = 4


class ExtranonceExhausted(RuntimeError):
    pass


class ExtranonceAllocator:
    def __init__(self, prefix: bytes = b"", size: int = EXTRANONCE1_SIZE) -> None:
        if len(prefix) >= size:
            raise ValueError(f"extranonce1 prefix must be shorter than {size} bytes")
        self.prefix = prefix
        self.size = size
        self._free_bytes = size - len(prefix)
        self._space = 1 << (8 * self._free_bytes)
        self._next = secrets.randbelow(self._space)
        self._used: set[int] = set()

    def allocate(self) -> bytes:
        if len(self._used) >= self._space:
            raise ExtranonceExhausted(f"all {self._space} extranonce1 values are in use")
        value = self._next
        while value in self._used:
            value = (value + 1) % self._space
        self._used.add(value)
        self._next = (value + 1) % self._space
        return self.prefix + value.to_bytes(self._free_bytes, "big")

    def release(self, extranonce1: bytes) -> None:
        if extranonce1.startswith(self.prefix) and len(extranonce1) == self.size:
            self._used.discard(int.from_bytes(extranonce1[len(self.prefix):], "big"))

    def __len__(self) -> int:
        return len(self._used)
