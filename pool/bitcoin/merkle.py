"""Merkle trees over transaction ids, the Stratum merkle branch, and the BIP141
witness commitment.

All hashes are 32 bytes in internal byte order. Stratum miners rebuild the root from
the coinbase txid and a branch of left-to-right siblings, the coinbase always on the
left: `root = H(...H(H(cb || b0) || b1)... || bn)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pool.bitcoin.hashes import sha256d

WITNESS_COMMITMENT_HEADER = bytes.fromhex("aa21a9ed")
WITNESS_RESERVED_VALUE = bytes(32)


def _check_hashes(hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != 32:
            raise ValueError(f"merkle leaf {i} is {len(h)} bytes, expected 32")


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Bitcoin's merkle root (an odd level duplicates its last hash)."""
    if not hashes:
        raise ValueError("merkle root of no transactions")
    _check_hashes(hashes)
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_branch(txids: Sequence[bytes]) -> tuple[bytes, ...]:
    """The Stratum branch for the coinbase at index 0, given the txids of the other
    transactions in block order (coinbase excluded)."""
    _check_hashes(txids)
    branch: list[bytes] = []
    rest = list(txids)  # a level of the tree but its index 0, the coinbase's path
    while rest:
        if len(rest) % 2 == 0:  # with the coinbase's path the level is odd: pad it
            rest.append(rest[-1])
        branch.append(rest[0])  # the coinbase path's sibling
        rest = [sha256d(rest[i] + rest[i + 1]) for i in range(1, len(rest), 2)]
    return tuple(branch)


def root_from_branch(coinbase_txid: bytes, branch: Sequence[bytes]) -> bytes:
    """What the miner computes: fold the branch onto the coinbase txid."""
    h = coinbase_txid
    for sibling in branch:
        h = sha256d(h + sibling)
    return h


def witness_root(wtxids: Sequence[bytes]) -> bytes:
    """Witness merkle root; the coinbase's wtxid counts as 32 zero bytes (BIP141).
    `wtxids` are the non-coinbase transactions' wtxids in block order."""
    return merkle_root([bytes(32), *wtxids])


def witness_commitment(wtxids: Sequence[bytes], reserved: bytes = WITNESS_RESERVED_VALUE) -> bytes:
    """The 32-byte commitment: SHA256d(witness root || witness reserved value)."""
    return sha256d(witness_root(wtxids) + reserved)


def witness_commitment_script(commitment: bytes) -> bytes:
    """The commitment output's scriptPubKey: OP_RETURN, push 36, aa21a9ed, hash."""
    if len(commitment) != 32:
        raise ValueError(f"witness commitment is 32 bytes, got {len(commitment)}")
    return b"\x6a\x24" + WITNESS_COMMITMENT_HEADER + commitment


def is_witness_commitment_script(script: bytes) -> bool:
    return len(script) >= 38 and script[:6] == b"\x6a\x24" + WITNESS_COMMITMENT_HEADER
