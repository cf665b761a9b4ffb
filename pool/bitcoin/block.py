"""Block headers and blocks: parse, serialise, hash."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pool.bitcoin.hashes import sha256d
from pool.bitcoin.merkle import merkle_root
from pool.bitcoin.serialize import Reader, compact_size
from pool.bitcoin.tx import Tx, read_tx


@dataclass(frozen=True, slots=True)
class BlockHeader:
    version: int
    prevhash: bytes  # internal byte order
    merkle_root: bytes  # internal byte order
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            struct.pack("<I", self.version & 0xFFFFFFFF)
            + self.prevhash
            + self.merkle_root
            + struct.pack("<III", self.time, self.bits, self.nonce)
        )

    @property
    def hash(self) -> bytes:
        """Internal byte order; `hash_hex` is the display form."""
        return sha256d(self.serialize())

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()

    @classmethod
    def parse(cls, data: bytes) -> BlockHeader:
        if len(data) != 80:
            raise ValueError(f"a block header is 80 bytes, got {len(data)}")
        (version,) = struct.unpack("<i", data[:4])
        time, bits, nonce = struct.unpack("<III", data[68:80])
        return cls(version, data[4:36], data[36:68], time, bits, nonce)


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[Tx, ...]

    def serialize(self, with_witness: bool = True) -> bytes:
        return (
            self.header.serialize()
            + compact_size(len(self.txs))
            + b"".join(tx.serialize(with_witness) for tx in self.txs)
        )

    @property
    def hash(self) -> bytes:
        return self.header.hash

    def computed_merkle_root(self) -> bytes:
        return merkle_root([tx.txid for tx in self.txs])

    @classmethod
    def parse(cls, data: bytes) -> Block:
        reader = Reader(data)
        header = BlockHeader.parse(reader.read(80))
        count = reader.compact_size()
        if count > reader.remaining() // 60 + 1:
            raise ValueError(f"transaction count {count} exceeds the data left")
        txs = tuple(read_tx(reader) for _ in range(count))
        if not reader.at_end():
            raise ValueError(f"{reader.remaining()} trailing bytes after block")
        return cls(header, txs)

    @classmethod
    def from_hex(cls, block_hex: str) -> Block:
        try:
            raw = bytes.fromhex(block_hex)
        except ValueError as exc:
            raise ValueError("block is not valid hex") from exc
        return cls.parse(raw)
