"""Transactions: parse and serialise, with and without witness, txid and wtxid.

The txid hashes the non-witness serialisation; the wtxid hashes the full one (and
equals the txid for transactions without witness data).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pool.bitcoin.hashes import sha256d
from pool.bitcoin.serialize import Reader, compact_size

NULL_TXID = bytes(32)
COINBASE_INDEX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class TxIn:
    prev_txid: bytes  # internal byte order
    prev_index: int
    script_sig: bytes
    sequence: int = 0xFFFFFFFF
    witness: tuple[bytes, ...] = ()

    @property
    def is_null_prevout(self) -> bool:
        return self.prev_txid == NULL_TXID and self.prev_index == COINBASE_INDEX


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int
    script_pubkey: bytes


@dataclass(frozen=True, slots=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _txid: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_null_prevout

    def serialize(self, with_witness: bool = True) -> bytes:
        witness = with_witness and self.has_witness
        out = bytearray(struct.pack("<i", self.version))
        if witness:
            out += b"\x00\x01"
        out += compact_size(len(self.inputs))
        for txin in self.inputs:
            out += txin.prev_txid + struct.pack("<I", txin.prev_index)
            out += compact_size(len(txin.script_sig)) + txin.script_sig
            out += struct.pack("<I", txin.sequence)
        out += compact_size(len(self.outputs))
        for txout in self.outputs:
            out += struct.pack("<q", txout.value)
            out += compact_size(len(txout.script_pubkey)) + txout.script_pubkey
        if witness:
            for txin in self.inputs:
                out += compact_size(len(txin.witness))
                for item in txin.witness:
                    out += compact_size(len(item)) + item
        out += struct.pack("<I", self.locktime)
        return bytes(out)

    @property
    def txid(self) -> bytes:
        """Internal byte order; display with `[::-1].hex()`."""
        if not self._txid:
            self._txid.append(sha256d(self.serialize(with_witness=False)))
        return self._txid[0]

    @property
    def wtxid(self) -> bytes:
        if not self.has_witness:
            return self.txid
        return sha256d(self.serialize(with_witness=True))

    @property
    def total_out(self) -> int:
        return sum(o.value for o in self.outputs)

    @classmethod
    def parse(cls, data: bytes) -> Tx:
        reader = Reader(data)
        tx = read_tx(reader)
        if not reader.at_end():
            raise ValueError(f"{reader.remaining()} trailing bytes after transaction")
        return tx


def read_tx(reader: Reader) -> Tx:
    """Read one transaction (witness form detected by the 00 01 marker)."""
    version = reader.i32()
    witness = False
    if reader.peek(1) == b"\x00":
        marker = reader.read(2)
        if marker[1] != 0x01:
            raise ValueError(f"bad segwit flag {marker[1]:#04x}")
        witness = True
    n_in = reader.compact_size()
    if n_in > reader.remaining() // 41 + 1:
        raise ValueError(f"input count {n_in} exceeds the data left")
    inputs: list[tuple[bytes, int, bytes, int]] = []
    for _ in range(n_in):
        prev_txid = reader.read(32)
        prev_index = reader.u32()
        script_sig = reader.var_bytes()
        sequence = reader.u32()
        inputs.append((prev_txid, prev_index, script_sig, sequence))
    n_out = reader.compact_size()
    if n_out > reader.remaining() // 9 + 1:
        raise ValueError(f"output count {n_out} exceeds the data left")
    outputs = []
    for _ in range(n_out):
        value = struct.unpack("<q", reader.read(8))[0]
        outputs.append(TxOut(value, reader.var_bytes()))
    witnesses: list[tuple[bytes, ...]] = [()] * n_in
    if witness:
        if n_in == 0:
            raise ValueError("witness transaction without inputs")
        for i in range(n_in):
            n_items = reader.compact_size()
            if n_items > reader.remaining() + 1:
                raise ValueError(f"witness item count {n_items} exceeds the data left")
            witnesses[i] = tuple(reader.var_bytes() for _ in range(n_items))
        if not any(witnesses):
            raise ValueError("witness flag set but every witness is empty")
    locktime = reader.u32()
    return Tx(
        version,
        tuple(TxIn(p, i, s, q, w) for (p, i, s, q), w in zip(inputs, witnesses, strict=True)),
        tuple(outputs),
        locktime,
    )
