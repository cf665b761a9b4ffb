"""The embedded devnet chain: a real (if tiny) block validator and chain store.

Synchronous and thread-safe; `pool.node.devnet.DevnetNode` wraps it in the async Node
contract. It checks what a node checks when a pool submits a block — proof of work,
prevhash, merkle root, BIP34 height, coinbase value, witness commitment, duplicates —
and answers with Bitcoin Core / bcoin reject reasons. It keeps no UTXO set: mempool
transactions carry their fee, and a block may only include mempool transactions.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pool.bitcoin.block import Block, BlockHeader
from pool.bitcoin.hashes import id_from_hex, id_to_hex
from pool.bitcoin.merkle import (
    is_witness_commitment_script,
    merkle_root,
    witness_commitment,
    witness_commitment_script,
)
from pool.bitcoin.serialize import bip34_height, push_data
from pool.bitcoin.target import bits_to_difficulty, bits_to_target
from pool.bitcoin.tx import Tx, TxIn, TxOut

COIN = 100_000_000
INITIAL_SUBSIDY = 50 * COIN
MAX_BLOCK_WEIGHT = 4_000_000
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
MEDIAN_TIME_SPAN = 11
DEFAULT_BITS = 0x207FFFFF  # regtest's limit: about every other hash meets it
GENESIS_TIME = 1_700_000_000
GENESIS_MESSAGE = b"Surplus devnet: a chain of its own"


# Rejections that may not hold later (or say nothing about the block itself), so the
# block is not remembered as invalid.
_TRANSIENT = frozenset(
    {
        "high-hash",
        "bad-prevblk",
        "inconclusive-not-best-prevblk",
        "time-too-new",
        "bad-txns-inputs-missingorspent",
    }
)


class BlockRejected(Exception):
    """Raised inside validation; the message is the node-style reject reason."""


@dataclass(frozen=True, slots=True)
class StoredBlock:
    height: int
    block: Block
    raw: bytes
    hash: bytes  # internal order

    @property
    def hash_hex(self) -> str:
        return id_to_hex(self.hash)


@dataclass(frozen=True, slots=True)
class MempoolEntry:
    raw: bytes
    txid: bytes
    wtxid: bytes
    fee: int
    weight: int


def _weight(tx: Tx) -> int:
    base = len(tx.serialize(with_witness=False))
    total = len(tx.serialize(with_witness=True))
    return base * 3 + total


def subsidy(height: int, halving_interval: int) -> int:
    halvings = height // halving_interval
    return 0 if halvings >= 64 else INITIAL_SUBSIDY >> halvings


class DevnetChain:
    """Genesis, the active chain, a mempool, templates and block submission."""

    def __init__(
        self,
        *,
        bits: int = DEFAULT_BITS,
        halving_interval: int = 150,
        segwit: bool = True,
        genesis_time: int = GENESIS_TIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        bits_to_target(bits)  # validate early: a bad nBits is a configuration error
        self.bits = bits
        self.target = bits_to_target(bits)
        self.halving_interval = halving_interval
        self.segwit = segwit
        self.clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._blocks: list[StoredBlock] = []
        self._by_hash: dict[bytes, StoredBlock] = {}
        self._invalid: set[bytes] = set()
        self._mempool: OrderedDict[bytes, MempoolEntry] = OrderedDict()
        self._confirmed_txids: set[bytes] = set()
        self._mempool_version = 0
        self._tip_version = 0
        self._listeners: list[Callable[[int, str], None]] = []
        self._change_listeners: list[Callable[[], None]] = []
        with self._lock:
            self._append(self._genesis(genesis_time))

    # ----------------------------------------------------------------- chain state

    def _genesis(self, genesis_time: int) -> Block:
        coinbase = Tx(
            1,
            (TxIn(bytes(32), 0xFFFFFFFF, push_data(GENESIS_MESSAGE)),),
            (TxOut(INITIAL_SUBSIDY, b"\x6a"),),  # unspendable: the devnet has no UTXOs
        )
        header = BlockHeader(1, bytes(32), coinbase.txid, genesis_time, self.bits, 0)
        return Block(header, (coinbase,))

    def _append(self, block: Block) -> StoredBlock:
        stored = StoredBlock(len(self._blocks), block, block.serialize(), block.hash)
        self._blocks.append(stored)
        self._by_hash[stored.hash] = stored
        for tx in block.txs[1:]:
            self._confirmed_txids.add(tx.txid)
            self._mempool.pop(tx.txid, None)
        self._tip_version += 1
        self._changed.notify_all()
        return stored

    @property
    def height(self) -> int:
        with self._lock:
            return len(self._blocks) - 1

    @property
    def tip(self) -> StoredBlock:
        with self._lock:
            return self._blocks[-1]

    @property
    def tip_version(self) -> int:
        """Increments on every new tip; cheap to poll from any thread."""
        return self._tip_version

    @property
    def genesis_hash(self) -> str:
        return self._blocks[0].hash_hex

    def block_at(self, height: int) -> StoredBlock | None:
        with self._lock:
            return self._blocks[height] if 0 <= height < len(self._blocks) else None

    def block_by_hash(self, block_hash: bytes) -> StoredBlock | None:
        with self._lock:
            return self._by_hash.get(block_hash)

    def median_time_past(self) -> int:
        with self._lock:
            times = sorted(b.block.header.time for b in self._blocks[-MEDIAN_TIME_SPAN:])
            return times[len(times) // 2]

    def subsidy(self, height: int) -> int:
        return subsidy(height, self.halving_interval)

    # -------------------------------------------------------------- notifications

    def add_listener(self, callback: Callable[[int, str], None]) -> None:
        """`callback(height, hash_hex)` runs on the submitting thread after each new tip;
        use `loop.call_soon_threadsafe` inside it to reach an event loop."""
        with self._lock:
            self._listeners.append(callback)

    def add_change_listener(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after any change that makes templates stale (a new tip or a
        mempool addition), on the thread that made it."""
        with self._lock:
            self._change_listeners.append(callback)

    def remove_change_listener(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._change_listeners:
                self._change_listeners.remove(callback)

    def _notify_change(self) -> None:
        with self._lock:
            callbacks = list(self._change_listeners)
        for callback in callbacks:
            callback()

    def wait_for_tip_change(self, since_version: int, timeout: float | None = None) -> int:
        """Block the calling thread until `tip_version` moves past `since_version`
        (or the timeout passes); returns the current version."""
        with self._changed:
            self._changed.wait_for(lambda: self._tip_version != since_version, timeout)
            return self._tip_version

    @property
    def longpollid(self) -> str:
        return f"{self.tip.hash_hex}{self._mempool_version}"

    # ------------------------------------------------------------------- mempool

    def add_transaction(self, raw: bytes, fee: int) -> str:
        """Put a transaction in the mempool with its fee; returns the txid (display hex)."""
        if fee < 0:
            raise ValueError(f"transaction fee cannot be negative: {fee}")
        tx = Tx.parse(raw)
        if tx.is_coinbase or any(txin.is_null_prevout for txin in tx.inputs):
            raise ValueError("a coinbase cannot enter the mempool")
        if not tx.inputs or not tx.outputs:
            raise ValueError("transaction has no inputs or no outputs")
        if tx.has_witness and not self.segwit:
            raise ValueError("witness transactions need segwit, which this devnet has off")
        with self._lock:
            if tx.txid in self._mempool or tx.txid in self._confirmed_txids:
                raise ValueError(f"transaction {id_to_hex(tx.txid)} is already known")
            self._mempool[tx.txid] = MempoolEntry(raw, tx.txid, tx.wtxid, fee, _weight(tx))
            self._mempool_version += 1
            self._changed.notify_all()
        self._notify_change()
        return id_to_hex(tx.txid)

    @property
    def mempool_size(self) -> int:
        return len(self._mempool)

    # ------------------------------------------------------------------ template

    def template(self) -> dict[str, Any]:
        """A getblocktemplate result shaped like Bitcoin Core's."""
        with self._lock:
            tip = self._blocks[-1]
            height = tip.height + 1
            entries: list[MempoolEntry] = []
            weight = 4 * 1_000  # room for the header and the coinbase
            for entry in self._mempool.values():
                if weight + entry.weight > MAX_BLOCK_WEIGHT:
                    break
                entries.append(entry)
                weight += entry.weight
            fees = sum(e.fee for e in entries)
            mintime = self.median_time_past() + 1
            template: dict[str, Any] = {
                "capabilities": ["proposal"],
                "version": 0x20000000,
                "rules": ["csv", "segwit"] if self.segwit else ["csv"],
                "vbavailable": {},
                "vbrequired": 0,
                "previousblockhash": tip.hash_hex,
                "transactions": [
                    {
                        "data": e.raw.hex(),
                        "txid": id_to_hex(e.txid),
                        "hash": id_to_hex(e.wtxid),
                        "depends": [],
                        "fee": e.fee,
                        "sigops": 0,
                        "weight": e.weight,
                    }
                    for e in entries
                ],
                "coinbaseaux": {},
                "coinbasevalue": self.subsidy(height) + fees,
                "longpollid": self.longpollid,
                "target": f"{self.target:064x}",
                "mintime": mintime,
                "mutable": ["time", "transactions", "prevblock"],
                "noncerange": "00000000ffffffff",
                "sigoplimit": 80_000,
                "sizelimit": 4_000_000,
                "weightlimit": MAX_BLOCK_WEIGHT,
                "curtime": max(int(self.clock()), mintime),
                "bits": f"{self.bits:08x}",
                "height": height,
            }
            if self.segwit:
                commitment = witness_commitment([e.wtxid for e in entries])
                template["default_witness_commitment"] = witness_commitment_script(commitment).hex()
            return template

    # ---------------------------------------------------------------- submission

    def submit(self, raw: bytes) -> str | None:
        """Validate and connect a block: None when accepted, else the reject reason.

        Raises ValueError when the bytes do not decode as a block."""
        block = Block.parse(raw)  # ValueError -> "Block decode failed" at the RPC layer
        with self._lock:
            block_hash = block.hash
            if block_hash in self._by_hash:
                return "duplicate"
            if block_hash in self._invalid:
                return "duplicate-invalid"
            try:
                height = self._check(block, block_hash)
            except BlockRejected as reject:
                if str(reject) not in _TRANSIENT:
                    self._invalid.add(block_hash)
                return str(reject)
            stored = self._append(block)
            listeners = list(self._listeners)
        for callback in listeners:
            callback(height, stored.hash_hex)
        self._notify_change()
        return None

    def _check(self, block: Block, block_hash: bytes) -> int:
        header = block.header
        # Header: proof of work against its own nBits, then its place in the chain.
        try:
            target = bits_to_target(header.bits)
        except ValueError:
            raise BlockRejected("high-hash") from None
        if target == 0 or int.from_bytes(block_hash, "little") > target:
            raise BlockRejected("high-hash")
        tip = self._blocks[-1]
        parent = self._by_hash.get(header.prevhash)
        if parent is None:
            raise BlockRejected("bad-prevblk")
        if parent is not tip:
            raise BlockRejected("inconclusive-not-best-prevblk")
        height = tip.height + 1
        if header.bits != self.bits:
            raise BlockRejected("bad-diffbits")
        if header.time <= self.median_time_past():
            raise BlockRejected("time-too-old")
        if header.time > self.clock() + MAX_FUTURE_BLOCK_TIME:
            raise BlockRejected("time-too-new")
        if header.version < 4:  # signed, as consensus reads it (BIP34/65/66 all active)
            raise BlockRejected(f"bad-version(0x{header.version & 0xFFFFFFFF:08x})")
        # Body: merkle root, coinbase shape.
        txs = block.txs
        if not txs:
            raise BlockRejected("bad-blk-length")
        txids = [tx.txid for tx in txs]
        if merkle_root(txids) != header.merkle_root:
            raise BlockRejected("bad-txnmrklroot")
        if len(set(txids)) != len(txids):
            raise BlockRejected("bad-txns-duplicate")
        if not txs[0].is_coinbase:
            raise BlockRejected("bad-cb-missing")
        if any(tx.is_coinbase or any(i.is_null_prevout for i in tx.inputs) for tx in txs[1:]):
            raise BlockRejected("bad-cb-multiple")
        coinbase = txs[0]
        script_sig = coinbase.inputs[0].script_sig
        if not 2 <= len(script_sig) <= 100:
            raise BlockRejected("bad-cb-length")
        if not script_sig.startswith(bip34_height(height)):
            raise BlockRejected("bad-cb-height")
        self._check_witness(block)
        weight = sum(_weight(tx) for tx in txs) + 4 * (80 + 9)
        if weight > MAX_BLOCK_WEIGHT:
            raise BlockRejected("bad-blk-weight")
        # Connect: every transaction must be one the mempool knows (there is no UTXO set).
        fees = 0
        for tx in txs[1:]:
            entry = self._mempool.get(tx.txid)
            if entry is None:
                raise BlockRejected("bad-txns-inputs-missingorspent")
            fees += entry.fee
        if coinbase.total_out > self.subsidy(height) + fees:
            raise BlockRejected("bad-cb-amount")
        return height

    def _check_witness(self, block: Block) -> None:
        coinbase = block.txs[0]
        commitment_index = None
        for index, output in enumerate(coinbase.outputs):
            if is_witness_commitment_script(output.script_pubkey):
                commitment_index = index  # BIP141: the highest index wins
        if commitment_index is not None and self.segwit:
            witness = coinbase.inputs[0].witness
            if len(witness) != 1 or len(witness[0]) != 32:
                raise BlockRejected("bad-witness-nonce-size")
            expected = witness_commitment([tx.wtxid for tx in block.txs[1:]], witness[0])
            script = coinbase.outputs[commitment_index].script_pubkey
            if script[6:38] != expected:
                raise BlockRejected("bad-witness-merkle-match")
            return
        if any(tx.has_witness for tx in block.txs):
            raise BlockRejected("unexpected-witness")

    # ---------------------------------------------------------------- block info

    def block_info(self, block_hash_hex: str, verbosity: int = 1) -> dict[str, Any] | None:
        """getblock-shaped data (verbosity 1: txids; 2: tx objects with hex)."""
        try:
            block_hash = id_from_hex(block_hash_hex)
        except ValueError:
            return None
        with self._lock:
            stored = self._by_hash.get(block_hash)
            if stored is None:
                return None
            header = stored.block.header
            following = self.block_at(stored.height + 1)
            times = sorted(
                b.block.header.time
                for b in self._blocks[max(0, stored.height - 10) : stored.height + 1]
            )
            confirmations = len(self._blocks) - stored.height
        txs = stored.block.txs
        info: dict[str, Any] = {
            "hash": stored.hash_hex,
            "confirmations": confirmations,
            "height": stored.height,
            "version": header.version,
            "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
            "merkleroot": id_to_hex(header.merkle_root),
            "time": header.time,
            "mediantime": times[len(times) // 2],
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "difficulty": float(bits_to_difficulty(header.bits)),
            "nTx": len(txs),
            "size": len(stored.raw),
            "strippedsize": len(stored.block.serialize(with_witness=False)),
            "weight": sum(_weight(tx) for tx in txs) + 4 * 81,
        }
        if stored.height > 0:
            info["previousblockhash"] = id_to_hex(header.prevhash)
        if following is not None:
            info["nextblockhash"] = following.hash_hex
        if verbosity >= 2:
            info["tx"] = [
                {
                    "txid": id_to_hex(tx.txid),
                    "hash": id_to_hex(tx.wtxid),
                    "hex": tx.serialize().hex(),
                }
                for tx in txs
            ]
        else:
            info["tx"] = [id_to_hex(tx.txid) for tx in txs]
        return info
