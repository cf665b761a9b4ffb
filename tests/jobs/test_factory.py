"""Jobs from getblocktemplate results (devnet templates, with real witness transactions)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashing import sha256d
from pool.bitcoin.block import Block
from pool.bitcoin.hashes import id_from_hex
from pool.bitcoin.merkle import merkle_branch, merkle_root, witness_commitment
from pool.bitcoin.prevhash import stratum_prevhash_from_display
from pool.bitcoin.tx import Tx
from pool.jobs.coinbase import Payout
from pool.jobs.factory import JobFactory, TemplateWork
from pool.node.devnet_chain import DevnetChain
from pool.node.devnet_txs import synthetic_transactions

MAIN = bytes.fromhex("00146f58bac9506f9bfb821d62e69330410bb56f0085")
SOLO = bytes.fromhex("5120897b58558dc38b6074ee52de30fbb23d92623bdbc6690b51be79b4e9cf6162fd")


@pytest.fixture
def template() -> dict:
    chain = DevnetChain()
    for tx in synthetic_transactions(9, seed=5):
        chain.add_transaction(tx.raw, tx.fee)
    return chain.template()


def test_job_fields_from_template(template: dict) -> None:
    factory = JobFactory([Payout(MAIN)], tag="/surplus/", extranonce2_size=4)
    job = factory.from_template(template)
    txids = [id_from_hex(t["txid"]) for t in template["transactions"]]
    assert job.height == template["height"] == 1
    assert job.prevhash == id_from_hex(template["previousblockhash"])
    assert job.merkle_branch == merkle_branch(txids)
    assert job.transactions == tuple(bytes.fromhex(t["data"]) for t in template["transactions"])
    assert job.witness_commitment == bytes.fromhex(template["default_witness_commitment"])
    assert job.coinbase_value == template["coinbasevalue"]
    assert job.network_target == int(template["target"], 16)
    assert (job.ntime, job.min_time, job.nbits) == (
        template["curtime"],
        template["mintime"],
        int(template["bits"], 16),
    )
    en1, en2 = b"\x00\x00\x00\x07", b"\x01\x02\x03\x04"
    coinbase = Tx.parse(job.coinbase(en1, en2))
    assert coinbase.total_out == template["coinbasevalue"]
    assert coinbase.outputs[-1].script_pubkey == job.witness_commitment
    root = job.merkle_root(sha256d(job.coinbase(en1, en2)))
    assert root == merkle_root([coinbase.txid, *txids])


def test_notify_params_format(template: dict) -> None:
    job = JobFactory(MAIN).from_template(template, clean_jobs=False)
    params = job.notify_params()
    assert params[0] == job.job_id
    assert params[1] == stratum_prevhash_from_display(template["previousblockhash"])
    assert params[2] == job.coinb1.hex() and params[3] == job.coinb2.hex()
    assert params[4] == [h.hex() for h in job.merkle_branch]
    assert params[5] == "20000000"
    assert params[6] == template["bits"]
    assert params[7] == f"{template['curtime']:08x}" and len(params[7]) == 8
    assert params[8] is False


def test_solo_payout_override_shares_the_template_work(template: dict) -> None:
    factory = JobFactory([Payout(MAIN)])
    work = TemplateWork.from_gbt(template)
    pool_job = factory.job(work, clean_jobs=True)
    solo_job = factory.job(work, clean_jobs=True, payouts=SOLO)
    assert pool_job.job_id != solo_job.job_id
    assert pool_job.coinb1 == solo_job.coinb1 and pool_job.coinb2 != solo_job.coinb2
    assert pool_job.merkle_branch is solo_job.merkle_branch
    solo_cb = Tx.parse(solo_job.coinbase(bytes(4), bytes(8)))
    assert solo_cb.outputs[0].script_pubkey == SOLO


def test_missing_txid_fields_are_computed(template: dict) -> None:
    stripped = copy.deepcopy(template)
    for entry in stripped["transactions"]:
        del entry["txid"], entry["hash"]
    del stripped["default_witness_commitment"]
    assert TemplateWork.from_gbt(stripped) == TemplateWork.from_gbt(template)
    assert any(Tx.parse(bytes.fromhex(t["data"])).has_witness for t in template["transactions"])


def test_no_commitment_before_segwit() -> None:
    template = DevnetChain(segwit=False).template()
    assert "default_witness_commitment" not in template
    job = JobFactory(MAIN).from_template(template)
    assert job.witness_commitment is None
    assert len(Tx.parse(job.coinbase(bytes(4), bytes(8))).outputs) == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("height", None, "no 'height'"),
        ("bits", "zz", "'bits' is not hex"),
        ("previousblockhash", "00", "not 32 bytes"),
        ("transactions", [{"fee": 1}], "transaction 0 has no valid 'data'"),
        ("default_witness_commitment", "xyz", "default_witness_commitment is not hex"),
    ],
)
def test_malformed_templates_are_named(
    template: dict, key: str, value: object, message: str
) -> None:
    broken = copy.deepcopy(template)
    if value is None:
        del broken[key]
    else:
        broken[key] = value
    with pytest.raises(ValueError, match=message):
        TemplateWork.from_gbt(broken)


def test_extranonce_lengths_enforced(template: dict) -> None:
    job = JobFactory(MAIN, extranonce2_size=2).from_template(template)
    job.coinbase(bytes(4), bytes(2))
    with pytest.raises(ValueError, match=r"extranonce2 is 3 bytes.*expects 2"):
        job.coinbase(bytes(4), bytes(3))
    with pytest.raises(ValueError, match="extranonce1 is 5 bytes"):
        job.coinbase(bytes(5), bytes(2))
    with pytest.raises(ValueError, match=r"2\.\.8"):
        JobFactory(MAIN, extranonce2_size=9)


@settings(max_examples=40, deadline=None)
@given(
    n_txs=st.integers(min_value=0, max_value=40),
    en2_size=st.integers(min_value=2, max_value=8),
    seed=st.integers(min_value=0, max_value=1_000),
    data=st.data(),
)
def test_job_block_is_self_consistent(n_txs: int, en2_size: int, seed: int, data) -> None:
    chain = DevnetChain()
    for tx in synthetic_transactions(n_txs, seed=seed):
        chain.add_transaction(tx.raw, tx.fee)
    job = JobFactory(MAIN, extranonce2_size=en2_size).from_template(chain.template())
    en1 = data.draw(st.binary(min_size=4, max_size=4))
    en2 = data.draw(st.binary(min_size=en2_size, max_size=en2_size))
    nonce = data.draw(st.integers(min_value=0, max_value=2**32 - 1))
    header = job.header(en1, en2, job.ntime + 1, nonce, job.version | 0x1FFFE000)
    block = Block.parse(job.block(en1, en2, header))
    assert block.header.serialize() == header
    assert block.computed_merkle_root() == block.header.merkle_root
    assert len(block.txs) == n_txs + 1
    assert block.txs[0].serialize(with_witness=False) == job.coinbase(en1, en2)
    wtxids = [tx.wtxid for tx in block.txs[1:]]
    commitment = block.txs[0].outputs[-1].script_pubkey
    assert commitment[6:] == witness_commitment(wtxids, block.txs[0].inputs[0].witness[0])
