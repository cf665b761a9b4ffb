"""A Job rebuilt from a real mainnet block (374 transactions) reproduces its header.

The block's own coinbase is cut into coinb1 / extranonce1 / extranonce2 / coinb2 as a
pool would have sent it, the merkle branch comes from the block's txids, and the header
the Job builds must hash to the block's known hash. A miner-side reconstruction from
the mining.notify params alone must give the same 80 bytes.
"""

from __future__ import annotations

import struct

from hashing import sha256d
from pool.bitcoin.block import BlockHeader
from pool.bitcoin.hashes import id_from_hex, id_to_hex
from pool.bitcoin.merkle import is_witness_commitment_script, merkle_branch
from pool.bitcoin.serialize import Reader
from pool.bitcoin.target import bits_to_target
from pool.bitcoin.tx import read_tx
from pool.jobs.job import Job
from tests.vectors import load


def real() -> tuple[dict, BlockHeader, list, bytes]:
    vec = load("mainnet_951658.json")
    raw = bytes.fromhex(vec["block_prefix_hex"])
    reader = Reader(raw)
    header = BlockHeader.parse(reader.read(80))
    reader.compact_size()
    txs = [read_tx(reader) for _ in range(vec["block_prefix_tx_count"])]
    return vec, header, txs, raw


def job_from_real_block(with_transactions: bool = False) -> tuple[Job, bytes, bytes]:
    vec, header, txs, _raw = real()
    coinbase = txs[0]
    plain = coinbase.serialize(with_witness=False)
    script_end = 4 + 1 + 36 + 1 + len(coinbase.inputs[0].script_sig)
    en_start = script_end - 12  # treat the scriptSig's last 12 bytes as 4 + 8 extranonce
    commitment = next(
        o.script_pubkey for o in coinbase.outputs if is_witness_commitment_script(o.script_pubkey)
    )
    job = Job(
        job_id="3a",
        height=vec["height"],
        prevhash=header.prevhash,
        version=header.version,
        nbits=header.bits,
        ntime=header.time,
        min_time=header.time - 600,
        network_target=bits_to_target(header.bits),
        coinb1=plain[:en_start],
        coinb2=plain[script_end:],
        merkle_branch=merkle_branch([id_from_hex(t) for t in vec["txids"][1:]]),
        transactions=tuple(tx.serialize() for tx in txs[1:]) if with_transactions else (),
        witness_commitment=commitment,
        coinbase_value=coinbase.total_out,
        clean_jobs=True,
        created=0.0,
    )
    return job, plain[en_start : en_start + 4], plain[en_start + 4 : script_end]


def test_job_header_hashes_to_the_real_block() -> None:
    vec, header, txs, raw = real()
    job, en1, en2 = job_from_real_block()
    assert job.coinbase(en1, en2) == txs[0].serialize(with_witness=False)
    assert job.merkle_root(txs[0].txid) == header.merkle_root
    built = job.header(en1, en2, header.time, header.nonce, header.version)
    assert built == raw[:80]
    assert id_to_hex(sha256d(built)) == vec["hash"]
    assert int.from_bytes(sha256d(built), "little") <= job.network_target


def test_miner_side_reconstruction_from_notify_params() -> None:
    vec, header, _txs, raw = real()
    job, en1, en2 = job_from_real_block()
    (job_id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean) = job.notify_params()
    assert (job_id, clean) == ("3a", True)
    assert version == "253ac004" and nbits == vec["bits"] and ntime == f"{vec['time']:08x}"
    # What a miner does with those strings (cgminer/bmminer style), independent of Job:
    root = sha256d(bytes.fromhex(coinb1) + en1 + en2 + bytes.fromhex(coinb2))
    for sibling in branch:
        root = sha256d(root + bytes.fromhex(sibling))
    prev = b"".join(bytes.fromhex(prevhash)[i : i + 4][::-1] for i in range(0, 32, 4))
    rebuilt = (
        bytes.fromhex(version)[::-1]
        + prev
        + root
        + bytes.fromhex(ntime)[::-1]
        + bytes.fromhex(nbits)[::-1]
        + struct.pack("<I", header.nonce)
    )
    assert rebuilt == raw[:80]
    assert id_to_hex(sha256d(rebuilt)) == vec["hash"]


def test_job_block_carries_the_witness_reserved_value() -> None:
    _vec, header, txs, raw = real()
    job, en1, en2 = job_from_real_block(with_transactions=True)
    block = job.block(en1, en2, raw[:80])
    # Same bytes as the real block, except the transaction count (we hold 4 of 374).
    assert block == raw[:80] + b"\x04" + raw[83:]
    reader = Reader(block[81:])
    coinbase = read_tx(reader)
    assert coinbase.inputs[0].witness == (bytes(32),)
    assert coinbase.serialize() == txs[0].serialize()
    assert coinbase.txid == txs[0].txid  # the witness does not change the txid
    assert BlockHeader.parse(block[:80]) == header


def test_job_block_without_commitment_has_no_witness() -> None:
    job, en1, en2 = job_from_real_block()
    plain_job = Job(**{**{f: getattr(job, f) for f in job.__slots__}, "witness_commitment": None})
    block = plain_job.block(en1, en2, bytes(80))
    coinbase = read_tx(Reader(block[81:]))
    assert not coinbase.has_witness
    assert coinbase.serialize() == job.coinbase(en1, en2)
