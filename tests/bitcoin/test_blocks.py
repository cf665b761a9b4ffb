"""Headers, blocks, transactions and merkle trees against real mainnet data."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pool.bitcoin.block import Block, BlockHeader
from pool.bitcoin.hashes import id_from_hex, id_to_hex
from pool.bitcoin.merkle import (
    WITNESS_RESERVED_VALUE,
    is_witness_commitment_script,
    merkle_branch,
    merkle_root,
    root_from_branch,
)
from pool.bitcoin.serialize import Reader, read_bip34_height
from pool.bitcoin.target import bits_to_target
from pool.bitcoin.tx import Tx, read_tx
from tests.vectors import load


def real_block() -> dict:
    return load("mainnet_951658.json")


def parse_prefix() -> tuple[BlockHeader, int, list[Tx], bytes]:
    vec = real_block()
    raw = bytes.fromhex(vec["block_prefix_hex"])
    reader = Reader(raw)
    header = BlockHeader.parse(reader.read(80))
    count = reader.compact_size()
    txs = [read_tx(reader) for _ in range(vec["block_prefix_tx_count"])]
    assert reader.at_end()
    return header, count, txs, raw


def test_mainnet_genesis_header() -> None:
    vec = load("headers.json")["mainnet_genesis"]
    header = BlockHeader.parse(bytes.fromhex(vec["header_hex"]))
    assert header.hash_hex == vec["hash"]
    assert id_to_hex(header.merkle_root) == vec["merkleroot"]
    assert (header.time, header.bits, header.nonce) == (
        vec["time"],
        int(vec["bits"], 16),
        vec["nonce"],
    )
    assert header.serialize().hex() == vec["header_hex"]
    assert int.from_bytes(header.hash, "little") <= bits_to_target(header.bits)


def test_block_125552_header_from_fields() -> None:
    vec = load("headers.json")["block_125552"]
    header = BlockHeader(
        vec["version"],
        id_from_hex(vec["previousblockhash"]),
        id_from_hex(vec["merkleroot"]),
        vec["time"],
        int(vec["bits"], 16),
        vec["nonce"],
    )
    assert header.hash_hex == vec["hash"]
    assert int.from_bytes(header.hash, "little") <= bits_to_target(header.bits)


def test_regtest_genesis_block_parses_and_round_trips() -> None:
    vec = load("headers.json")["regtest_genesis_block"]
    block = Block.from_hex(vec["hex"])
    assert id_to_hex(block.hash) == vec["hash"]
    assert id_to_hex(block.txs[0].txid) == vec["coinbase_txid"]
    assert block.computed_merkle_root() == block.header.merkle_root
    assert block.txs[0].is_coinbase
    assert block.serialize().hex() == vec["hex"]


def test_real_block_header_fields() -> None:
    vec = real_block()
    header, count, _txs, _raw = parse_prefix()
    assert header.hash_hex == vec["hash"]
    assert header.version == vec["version"]
    assert id_to_hex(header.prevhash) == vec["previousblockhash"]
    assert id_to_hex(header.merkle_root) == vec["merkleroot"]
    assert (header.time, header.nonce) == (vec["time"], vec["nonce"])
    assert f"{header.bits:08x}" == vec["bits"]
    assert count == vec["nTx"] == len(vec["txids"])


def test_real_transactions_txid_wtxid_and_round_trip() -> None:
    vec = real_block()
    _header, _count, txs, raw = parse_prefix()
    for i, tx in enumerate(txs):
        assert id_to_hex(tx.txid) == vec["txids"][i]
    coinbase, segwit_spend, _segwit_2, legacy = txs
    assert coinbase.is_coinbase and not segwit_spend.is_coinbase
    assert segwit_spend.has_witness and not legacy.has_witness
    assert segwit_spend.wtxid != segwit_spend.txid
    assert legacy.wtxid == legacy.txid
    # Re-serialising every transaction reproduces the block's bytes exactly.
    rebuilt = raw[:83] + b"".join(tx.serialize() for tx in txs)
    assert rebuilt == raw
    for tx in txs:
        assert Tx.parse(tx.serialize()) == tx


def test_real_coinbase_shape() -> None:
    vec = real_block()
    _header, _count, txs, _raw = parse_prefix()
    coinbase = txs[0]
    assert coinbase.inputs[0].script_sig.hex() == vec["coinbase_script_sig"]
    assert read_bip34_height(coinbase.inputs[0].script_sig) == vec["height"]
    assert coinbase.inputs[0].witness == (WITNESS_RESERVED_VALUE,)
    commitment = [
        o.script_pubkey for o in coinbase.outputs if is_witness_commitment_script(o.script_pubkey)
    ]
    assert len(commitment) == 1 and commitment[0].startswith(bytes.fromhex("6a24aa21a9ed"))


def test_real_block_merkle_root_and_branch() -> None:
    vec = real_block()
    txids = [id_from_hex(t) for t in vec["txids"]]
    root = id_from_hex(vec["merkleroot"])
    assert merkle_root(txids) == root
    branch = merkle_branch(txids[1:])
    assert len(branch) == 9  # ceil(log2(374))
    assert branch[0] == txids[1]  # the coinbase's first sibling is the next txid
    assert root_from_branch(txids[0], branch) == root


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_branch_agrees_with_root_for_every_size(count: int) -> None:
    leaves = [bytes([i]) * 32 for i in range(1, count + 1)]
    coinbase = b"\xcb" * 32
    assert root_from_branch(coinbase, merkle_branch(leaves)) == merkle_root([coinbase, *leaves])


def test_truncated_block_raises() -> None:
    _header, _count, _txs, raw = parse_prefix()
    with pytest.raises(ValueError, match=r"truncated|exceeds"):
        Block.parse(raw)  # claims 374 transactions, holds 4
    with pytest.raises(ValueError):
        Block.from_hex("zz")
    with pytest.raises(ValueError, match="80 bytes"):
        BlockHeader.parse(raw[:79])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parsing_garbage_raises_only_value_error(data: bytes) -> None:
    _header, _count, _txs, raw = parse_prefix()
    for candidate in (data, raw[:83] + data, raw[: len(data)]):
        with contextlib.suppress(ValueError):
            Block.parse(candidate)
