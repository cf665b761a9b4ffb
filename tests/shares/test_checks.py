"""Pure share checks with real jobs from pool.jobs and real SHA-256d."""

from __future__ import annotations

import pytest

import hashing
from pool.bitcoin.target import difficulty_to_target
from pool.protocol import DEFAULT_VERSION_MASK, ErrorCode
from pool.shares.checks import (
    DuplicateFilter,
    Verdict,
    check_ntime,
    duplicate_key,
    judge,
    negotiate_version_mask,
    rolled_version,
)
from pool.shares.submission import ShareRejected, parse_submit
from rigsim.miner import MiningJob

EN1 = bytes.fromhex("0a0b0c0d")


def test_mask_negotiation_bip310():
    assert negotiate_version_mask(DEFAULT_VERSION_MASK, None) == DEFAULT_VERSION_MASK
    assert negotiate_version_mask(DEFAULT_VERSION_MASK, 0xFFFFFFFF) == DEFAULT_VERSION_MASK
    assert negotiate_version_mask(DEFAULT_VERSION_MASK, 0x00FFF000) == 0x00FFE000
    assert negotiate_version_mask(DEFAULT_VERSION_MASK, 0) == 0


def test_rolled_version_formula():
    assert rolled_version(0x20000000, None, DEFAULT_VERSION_MASK) == 0x20000000
    assert rolled_version(0x20000000, 0x1FFFE000, DEFAULT_VERSION_MASK) == 0x3FFFE000
    # job bits inside the mask are replaced, not OR-ed
    assert rolled_version(0x20002000, 0x00004000, DEFAULT_VERSION_MASK) == 0x20004000
    assert rolled_version(0x20000000, 0, 0) == 0x20000000
    for outside in (0x00001000, 0x20000000, 0x80000000):
        with pytest.raises(ShareRejected, match="outside the mask") as info:
            rolled_version(0x20000000, outside, DEFAULT_VERSION_MASK)
        assert info.value.code == ErrorCode.OTHER


def test_ntime_window_edges():
    now = 1_700_000_000.0
    check_ntime(1_699_990_000, 1_699_990_000, now)
    check_ntime(int(now) + 7200, 1_699_990_000, now)
    with pytest.raises(ShareRejected, match="mintime"):
        check_ntime(1_699_989_999, 1_699_990_000, now)
    with pytest.raises(ShareRejected, match="2 hours"):
        check_ntime(int(now) + 7201, 1_699_990_000, now)


def test_duplicates_by_parsed_values_not_strings(job):
    dup = DuplicateFilter(max_jobs=2)
    a = parse_submit(["w", job.job_id, "00000000000000ff", "6553f100", "0000abcd"], 8)
    b = parse_submit(["w", job.job_id, "00000000000000FF", "6553F100", "0000ABCD"], 8)
    key_a = duplicate_key(EN1, a.extranonce2, a.ntime, a.nonce, job.version)
    key_b = duplicate_key(EN1, b.extranonce2, b.ntime, b.nonce, job.version)
    assert dup.add(job.job_id, key_a)
    assert not dup.add(job.job_id, key_b), "same values, different spelling: a duplicate"
    # same nonce under another extranonce1 or version is a different header
    assert dup.add(job.job_id, duplicate_key(b"\0" * 4, a.extranonce2, a.ntime, a.nonce,
                                             job.version))
    assert dup.add(job.job_id, duplicate_key(EN1, a.extranonce2, a.ntime, a.nonce,
                                             job.version | 0x2000))
    dup.discard(job.job_id, key_a)
    assert dup.add(job.job_id, key_a)
    dup.add("j2", key_a)
    dup.add("j3", key_a)  # forgets the oldest job
    assert dup.add(job.job_id, key_a)


def test_miner_and_pool_build_the_same_header(job):
    """The header a miner builds from mining.notify equals Job.header from the parsed
    submission, and a nonce found at the share target meets it."""
    miner_job = MiningJob.from_notify(job.notify_params(), 2.0**-20, EN1, 8)
    en2 = bytes.fromhex("0102030405060708")
    version = rolled_version(job.version, 0x00006000, DEFAULT_VERSION_MASK)
    header76 = miner_job.header76(en2, job.ntime, version)
    target = difficulty_to_target(2.0**-20)
    nonce = hashing.scan_nonces(header76, target, 0, 1 << 16)[0]
    sub = parse_submit(["w", job.job_id, en2.hex(), f"{job.ntime:08x}", f"{nonce:08x}",
                        "00006000"], 8)
    header = job.header(EN1, sub.extranonce2, sub.ntime, sub.nonce,
                        rolled_version(job.version, sub.version_bits, DEFAULT_VERSION_MASK))
    assert header[:76] == header76
    assert hashing.header_meets_target(header, target)


def test_judge_order():
    share, network = 1000, 10
    assert judge(5, share, network, stale=False).verdict is Verdict.ACCEPTED
    assert judge(5, share, network, stale=False).is_block
    stale_block = judge(5, share, network, stale=True)
    assert stale_block.verdict is Verdict.STALE and stale_block.is_block
    assert stale_block.error == (ErrorCode.JOB_NOT_FOUND, "Stale job")
    assert judge(500, share, network, stale=False).verdict is Verdict.ACCEPTED
    assert not judge(500, share, network, stale=False).is_block
    low = judge(None, share, network, stale=False)
    assert low.verdict is Verdict.LOW_DIFFICULTY
    assert low.error == (ErrorCode.LOW_DIFFICULTY, "Low difficulty share")
    # share difficulty above the network's: meeting only the network target is a block
    assert judge(50, 10, 100, stale=False).verdict is Verdict.ACCEPTED
    assert judge(50, 10, 100, stale=False).is_block
