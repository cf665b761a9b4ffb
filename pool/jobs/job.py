"""The Job: one unit of work handed to miners, and everything needed to turn a
miner's submission back into a header and a block.

Shared by the jobs, shares and Stratum code. Frozen, so a job can be read from the
validator thread while the event loop hands out newer ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pool.bitcoin.hashes import sha256d
from pool.bitcoin.merkle import WITNESS_RESERVED_VALUE, root_from_branch
from pool.bitcoin.prevhash import stratum_prevhash
from pool.bitcoin.serialize import compact_size

# The coinbase witness: one stack item, the 32-byte witness reserved value.
_COINBASE_WITNESS = b"\x01" + compact_size(32) + WITNESS_RESERVED_VALUE


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str  # short hex id, unique within the pool process
    height: int
    prevhash: bytes  # 32 bytes, internal byte order (as it sits in the header)
    version: int  # template version
    nbits: int  # compact target, e.g. 0x207fffff
    ntime: int  # template curtime
    min_time: int  # template mintime
    network_target: int
    coinb1: bytes  # non-witness coinbase serialisation up to extranonce1
    coinb2: bytes  # ... after extranonce1 + extranonce2
    merkle_branch: tuple[bytes, ...]  # sibling txids, internal order, coinbase on the left
    transactions: tuple[bytes, ...]  # raw template transactions (with witness), block order
    witness_commitment: bytes | None  # full scriptPubKey of the commitment output, or None
    coinbase_value: int
    clean_jobs: bool
    created: float  # time.time()
    extranonce1_size: int = 4
    extranonce2_size: int = 8

    def notify_params(self) -> list[object]:
        """The mining.notify params list."""
        return [
            self.job_id,
            stratum_prevhash(self.prevhash),
            self.coinb1.hex(),
            self.coinb2.hex(),
            [h.hex() for h in self.merkle_branch],
            f"{self.version & 0xFFFFFFFF:08x}",
            f"{self.nbits:08x}",
            f"{self.ntime & 0xFFFFFFFF:08x}",
            self.clean_jobs,
        ]

    def coinbase(self, extranonce1: bytes, extranonce2: bytes) -> bytes:
        """The non-witness coinbase serialisation (what the miner hashes into the root)."""
        if len(extranonce1) != self.extranonce1_size:
            raise ValueError(
                f"extranonce1 is {len(extranonce1)} bytes, job {self.job_id} "
                f"expects {self.extranonce1_size}"
            )
        if len(extranonce2) != self.extranonce2_size:
            raise ValueError(
                f"extranonce2 is {len(extranonce2)} bytes, job {self.job_id} "
                f"expects {self.extranonce2_size}"
            )
        return self.coinb1 + extranonce1 + extranonce2 + self.coinb2

    def merkle_root(self, coinbase_txid: bytes) -> bytes:
        """Header merkle root from the coinbase txid (internal byte order)."""
        return root_from_branch(coinbase_txid, self.merkle_branch)

    def header(
        self, extranonce1: bytes, extranonce2: bytes, ntime: int, nonce: int, version: int
    ) -> bytes:
        """The 80-byte header a submission describes."""
        root = self.merkle_root(sha256d(self.coinbase(extranonce1, extranonce2)))
        return (
            struct.pack("<I", version & 0xFFFFFFFF)
            + self.prevhash
            + root
            + struct.pack("<III", ntime & 0xFFFFFFFF, self.nbits, nonce & 0xFFFFFFFF)
        )

    def block(self, extranonce1: bytes, extranonce2: bytes, header: bytes) -> bytes:
        """The full serialised block for submitblock (`.hex()` it for RPC).

        With a witness commitment the coinbase is sent in witness form carrying the
        32-byte witness reserved value; its txid (and so the header) is unchanged."""
        if len(header) != 80:
            raise ValueError(f"a block header is 80 bytes, got {len(header)}")
        coinbase = self.coinbase(extranonce1, extranonce2)
        if self.witness_commitment is not None:
            # version | marker 00 flag 01 | inputs+outputs | witness | locktime
            body, locktime = coinbase[4:-4], coinbase[-4:]
            coinbase = coinbase[:4] + b"\x00\x01" + body + _COINBASE_WITNESS + locktime
        return (
            header
            + compact_size(1 + len(self.transactions))
            + coinbase
            + b"".join(self.transactions)
        )

