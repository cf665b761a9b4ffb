"""Synthetic transactions for the devnet mempool.

They are structurally real (they parse, hash and serialise like any transaction, half
of them carry witness data) but spend made-up outpoints: the devnet keeps no UTXO set,
so each carries its fee alongside. Deterministic for a given seed, so tests repeat.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pool.bitcoin.tx import Tx, TxIn, TxOut


@dataclass(frozen=True, slots=True)
class SyntheticTx:
    raw: bytes
    fee: int


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(b"surplus-devnet|" + "|".join(map(str, parts)).encode()).digest()


def synthetic_transactions(
    count: int, *, seed: int = 0, witness_every: int = 2, base_fee: int = 1_000
) -> list[SyntheticTx]:
    """`count` distinct transactions; every `witness_every`-th one spends a P2WPKH-style
    input with a two-item witness (0 disables witness transactions)."""
    out: list[SyntheticTx] = []
    for i in range(count):
        prev = _digest(seed, i, "prevout")
        witness_tx = witness_every > 0 and i % witness_every == 0
        signature = _digest(seed, i, "sig") + _digest(seed, i, "sig2") + b"\x01"  # 65 bytes
        pubkey = b"\x02" + _digest(seed, i, "pub")
        if witness_tx:
            txin = TxIn(prev, i % 4, b"", 0xFFFFFFFD, (signature, pubkey))
        else:
            script_sig = bytes((len(signature),)) + signature + bytes((len(pubkey),)) + pubkey
            txin = TxIn(prev, i % 4, script_sig, 0xFFFFFFFF)
        outputs = (
            TxOut(10_000 + i, b"\x00\x14" + _digest(seed, i, "out")[:20]),
            TxOut(5_000, b"\x51\x20" + _digest(seed, i, "tr")),
        )
        tx = Tx(2, (txin,), outputs, 0)
        out.append(SyntheticTx(tx.serialize(), base_fee + 7 * i))
    return out
