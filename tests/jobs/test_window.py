"""Job ids and the window of recent jobs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pool.jobs.job import Job
from pool.jobs.window import JobIdGenerator, JobWindow


def make_job(job_id: str, prevhash: bytes, clean: bool) -> Job:
    return Job(
        job_id=job_id,
        height=10,
        prevhash=prevhash,
        version=0x20000000,
        nbits=0x207FFFFF,
        ntime=1_700_000_000,
        min_time=1_699_999_000,
        network_target=1 << 255,
        coinb1=b"\x01",
        coinb2=b"\x02",
        merkle_branch=(),
        transactions=(),
        witness_commitment=None,
        coinbase_value=1,
        clean_jobs=clean,
        created=0.0,
    )


A, B = b"\xaa" * 32, b"\xbb" * 32


def test_new_prevhash_makes_older_jobs_stale_but_keeps_them() -> None:
    window = JobWindow(max_jobs=8)
    assert window.add(make_job("1", A, True)) is False  # the first job starts nothing
    assert window.add(make_job("2", A, False)) is False  # template refresh, same block
    assert not window.is_stale("1") and not window.is_stale("2")
    assert window.add(make_job("3", B, True)) is True
    entry = window.lookup("1")
    assert entry is not None and entry.stale and entry.job.job_id == "1"
    assert window.is_stale("2") and not window.is_stale("3")
    assert [j.job_id for j in window.current_jobs()] == ["3"]
    assert window.latest is not None and window.latest.job_id == "3"
    assert window.prevhash == B


def test_clean_jobs_on_same_prevhash_starts_an_epoch() -> None:
    window = JobWindow()
    window.add(make_job("1", A, True))
    assert window.add(make_job("2", A, True)) is True
    assert window.is_stale("1")


def test_prevhash_change_without_clean_flag_still_stales() -> None:
    window = JobWindow()
    window.add(make_job("1", A, True))
    assert window.add(make_job("2", B, False)) is True
    assert window.is_stale("1")


def test_bounded_and_unknown() -> None:
    window = JobWindow(max_jobs=3)
    for i in range(5):
        window.add(make_job(str(i), A, False))
    assert len(window) == 3
    assert window.lookup("0") is None and window.get("1") is None
    assert window.is_stale("0")  # forgotten counts as stale/unknown
    assert "4" in window and window.get("4") is not None


def test_duplicate_id_and_bad_size() -> None:
    window = JobWindow()
    window.add(make_job("1", A, True))
    with pytest.raises(ValueError, match="already"):
        window.add(make_job("1", A, True))
    with pytest.raises(ValueError, match="at least 1"):
        JobWindow(0)


def test_clear() -> None:
    window = JobWindow()
    window.add(make_job("1", A, True))
    window.clear()
    assert len(window) == 0 and window.latest is None and window.lookup("1") is None
    assert window.add(make_job("2", A, True)) is False


def test_job_ids_unique_short_hex_across_threads() -> None:
    ids = JobIdGenerator()
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [ids.next() for _ in range(2_000)], range(4)))
    seen = [i for batch in batches for i in batch]
    assert len(set(seen)) == len(seen) == 8_000
    assert all(len(i) <= 8 and int(i, 16) >= 0 for i in seen)
    assert JobIdGenerator(start=255).next() == "ff"
