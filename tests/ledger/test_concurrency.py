"""Several pool processes on one database: share ids never collide, and the share
horizon really is a horizon (no share with a smaller id can still commit after it)."""

from __future__ import annotations

import asyncio
import threading

import psycopg

from pool.ledger import Ledger, LedgerConfig, open_backend
from tests.waiting import wait_for_sync

from .conftest import MakeConfig
from .factories import FEE_ACCOUNT, share


async def test_two_ledgers_write_one_database(make_config: MakeConfig) -> None:
    config = make_config(commit_delay_ms=1)
    first = await Ledger.open(config)
    second = await Ledger.open(config)
    try:
        async def submit(ledger: Ledger, tag: str) -> list[tuple[int, str]]:
            out = []
            for i in range(20):
                batch = [share(tag, 1, job=f"{tag}{i}.{k}") for k in range(10)]
                ids = await asyncio.gather(*(ledger.record_share(s) for s in batch))
                out.extend(zip(ids, (s.job_id for s in batch), strict=True))
            return out

        a, b = await asyncio.gather(submit(first, "a"), submit(second, "b"))
    finally:
        await first.close()
        await second.close()
    ids = [i for i, _ in a + b]
    assert len(set(ids)) == 400
    backend = open_backend(config)
    try:
        with backend.read() as tx:
            stored = dict(tx.all("SELECT id, job_id FROM shares"))
    finally:
        backend.close()
    assert {i: job for i, job in a + b} == stored


def waiting_for_lock(dsn: str) -> bool:
    """Whether a session of this database waits for a lock (PostgreSQL's own view)."""
    with psycopg.connect(dsn) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def test_postgres_horizon_waits_for_uncommitted_inserts(pg_dsn: str) -> None:
    """PostgreSQL only: SQLite has a single writer, so nothing can commit behind it."""
    config = LedgerConfig(backend="postgres", dsn=pg_dsn, fee_account=FEE_ACCOUNT)
    reader = open_backend(config)
    try:
        # another pool process, mid-transaction: it drew ids but has not committed
        with psycopg.connect(pg_dsn) as other:
            other.execute(
                "INSERT INTO shares (account, worker, difficulty, job_id, time, height, is_block)"
                " VALUES ('late', 'w', '1', 'j', 0, 1, false)"
            )
            late_id = other.execute("SELECT max(id) FROM shares").fetchone()[0]  # type: ignore[index]
            result: list[int] = []
            waiter = threading.Thread(target=lambda: result.append(reader.share_horizon()))
            waiter.start()
            wait_for_sync(lambda: waiting_for_lock(pg_dsn), 10, "the horizon's LOCK to queue")
            assert waiter.is_alive() and not result  # the horizon cannot pass an open insert
            other.commit()
            waiter.join(10)
        assert result and result[0] >= late_id
    finally:
        reader.close()
