"""The batch validator: per-row targets through hashing, block candidates first."""

from __future__ import annotations

import asyncio

import hashing
from pool.bitcoin.target import difficulty_to_target
from pool.shares.validator import PendingShare, ShareValidator, hash_batch, target_le

EN1 = bytes.fromhex("01020304")


def pending(job, en2_int: int, nonce: int, difficulty: float) -> PendingShare:
    en2 = en2_int.to_bytes(8, "big")
    header = job.header(EN1, en2, job.ntime, nonce, job.version)
    share_target = difficulty_to_target(difficulty)
    return PendingShare(
        owner=None, request_id=en2_int, job=job, header=header, extranonce1=EN1,
        extranonce2=en2, worker="w", difficulty=difficulty, share_target=share_target,
        check_target_le=target_le(max(share_target, job.network_target)), dup_key=b"",
        epoch=0, dup_group=job.job_id,
    )


def test_hash_batch_matches_hashlib_per_row(job):
    batch = [pending(job, i, i * 7919, 2.0 ** -(20 + i % 12)) for i in range(300)]
    hits = hash_batch(batch)
    for share in batch:
        value = int.from_bytes(hashing.sha256d(share.header), "little")
        expected = value <= int.from_bytes(share.check_target_le, "little")
        assert (share in hits) == expected
        if expected:
            assert share.hash_value == value
        else:
            assert share.hash_value is None
    assert 0 < len(hits) < len(batch), "the vector mixes hits and misses"


async def test_block_candidates_reported_before_the_batch(easy_job):
    events: list[tuple[str, object]] = []
    validator = ShareValidator(lambda s: events.append(("block", s.request_id)),
                               lambda b: events.append(("batch", len(b))))
    await validator.warm_up()
    for i in range(40):
        validator.submit(pending(easy_job, i, i, 2.0**-30))
    await validator.drain()
    validator.close()
    kinds = [k for k, _ in events]
    assert "block" in kinds, "regtest target: about half the hashes are blocks"
    first_batch = kinds.index("batch")
    assert all(k == "block" for k in kinds[:first_batch])
    assert sum(n for k, n in events if k == "batch") == 40
    blocks = {rid for k, rid in events if k == "block"}
    for i in range(40):
        header = easy_job.header(EN1, i.to_bytes(8, "big"), easy_job.ntime, i, easy_job.version)
        is_block = hashing.header_meets_target(header, easy_job.network_target)
        assert (i in blocks) == is_block


async def test_batches_form_under_load(job):
    sizes: list[int] = []
    validator = ShareValidator(lambda s: None, lambda b: sizes.append(len(b)), max_batch=64)
    for i in range(200):
        validator.submit(pending(job, i, i, 1.0))
    await asyncio.sleep(0)
    await validator.drain()
    validator.close()
    assert sum(sizes) == 200
    assert max(sizes) == 64 and len(sizes) < 200


def test_batches_are_sized_to_the_measured_kernel(monkeypatch):
    """A batch is what the chosen kernel hashes in the latency budget (one event-loop
    tick), within bounds; before any measurement a conservative rate is assumed."""
    from pool.shares import validator as module

    monkeypatch.setattr(hashing, "kernel_rate", lambda path: 1e6, raising=False)
    assert ShareValidator(print, print).max_batch == int(1e6 * module.LATENCY_BUDGET_S)
    monkeypatch.setattr(hashing, "kernel_rate", lambda path: 1e12)
    assert ShareValidator(print, print).max_batch == module.MAX_BATCH
    monkeypatch.setattr(hashing, "kernel_rate", lambda path: 10.0)
    assert ShareValidator(print, print).max_batch == module.MIN_BATCH
    monkeypatch.setattr(hashing, "kernel_rate", lambda path: None)
    expected = int(module.UNMEASURED_RATE * module.LATENCY_BUDGET_S)
    assert ShareValidator(print, print).max_batch == expected
    assert ShareValidator(print, print, max_batch=64).max_batch == 64


def test_a_large_batch_is_hashed_on_the_validator_thread_alone(job, monkeypatch):
    """The validator's batches take one thread (its own): the pool's other cores stay with
    the event loop, even for batches large enough that the API would split them."""
    from hashing import batch as hashing_batch
    from hashing import workers

    def no_helpers(*args):
        raise AssertionError("the validator must not spread a batch over helper threads")

    monkeypatch.setattr(workers, "share", no_helpers)
    monkeypatch.setattr(hashing_batch.cpu, "usable_cores", lambda: 2, raising=False)
    shares = [pending(job, i, i, 2.0**-28) for i in range(hashing_batch.PARALLEL_MIN_BATCH)]
    hits = hash_batch(shares)
    expected = [
        s for s in shares
        if hashing.header_meets_target(s.header, int.from_bytes(s.check_target_le, "little"))
    ]  # fmt: skip
    assert hits == expected
    assert 0 < len(hits) < len(shares), "about one share in 16 hits"
