"""Group commit through the async Ledger on both backends: a caller's await returns only
after its share is committed (an independent connection already sees it), many callers
share one transaction, failures reach every caller, close() flushes."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from pool.ledger import (
    BlockStatus,
    InvalidShare,
    Ledger,
    LedgerClosed,
    LedgerConfig,
    LedgerSink,
    open_backend,
)
from pool.ledger.group_commit import GroupCommitter

from .conftest import MakeConfig
from .factories import FEE_ACCOUNT, found, share


async def test_callers_resolve_only_after_commit(make_config: MakeConfig) -> None:
    config = make_config(commit_delay_ms=2)
    observer = open_backend(config)  # a second connection, as another process would see it
    seen: list[tuple[int, bool]] = []

    def visible(share_id: int) -> bool:
        with observer.read() as tx:
            return tx.one("SELECT id FROM shares WHERE id = ?", (share_id,)) is not None

    def check(future: asyncio.Future[int]) -> None:
        # runs on the loop the moment the caller is resolved, before it can answer `true`
        seen.append((future.result(), visible(future.result())))

    try:
        async with await Ledger.open(config) as ledger:
            futures = []
            for i in range(300):
                future = ledger.submit_share(share(f"acct{i % 17}", Fraction(i + 1, 7)))
                future.add_done_callback(check)
                futures.append(future)
                if i % 50 == 0:
                    await asyncio.sleep(0.003)  # arrivals spread over several commits
            ids = await asyncio.gather(*futures)
            assert ledger.commits < 300 / 5  # grouped, not one transaction per share
            assert ledger.commits >= 2
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 300
        assert len(seen) == 300 and all(ok for _, ok in seen)
        many = stored_ids(config)
        assert many == sorted(ids)
    finally:
        observer.close()


def stored_ids(config) -> list[int]:
    backend = open_backend(config)
    try:
        with backend.read() as tx:
            return [r[0] for r in tx.all("SELECT id FROM shares ORDER BY id")]
    finally:
        backend.close()


async def test_record_shares_returns_ids_in_order(make_config: MakeConfig) -> None:
    async with await Ledger.open(make_config()) as ledger:
        batch = [share("a", 1, job=f"{i:x}") for i in range(25)]
        results = await asyncio.gather(
            ledger.record_shares(batch), ledger.record_share(share("b", 2, job="solo"))
        )
        ids, single = results
        stored = dict(ledger.store.shares())
        assert [stored[i].job_id for i in ids] == [f"{i:x}" for i in range(25)]
        assert stored[single].job_id == "solo"
        assert await ledger.record_shares([]) == []


async def test_close_flushes_pending_and_then_refuses(make_config: MakeConfig) -> None:
    ledger = await Ledger.open(make_config(commit_delay_ms=20))
    futures = [ledger.submit_share(share("a", 1)) for _ in range(40)]
    await ledger.close()
    ids = [await f for f in futures]
    assert len(set(ids)) == 40
    with pytest.raises(LedgerClosed):
        await ledger.record_share(share("a", 1))
    assert len(stored_ids(make_config())) == 40


async def test_write_failure_reaches_every_caller() -> None:
    calls: list[int] = []

    def flaky_write(shares: list) -> list[int]:  # the database connection failing once
        calls.append(len(shares))
        if len(calls) == 1:
            raise OSError("disk full")
        return list(range(len(shares)))

    committer = GroupCommitter(flaky_write, delay=0.02)
    committer.start()
    try:
        failing = [committer.submit([share("a", 1)], single=True) for _ in range(5)]
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, OSError) for r in results)
        assert await committer.submit([share("a", 1), share("b", 1)]) == [0, 1]
        assert calls == [5, 2]
    finally:
        await committer.close()


class ChainDouble:
    """Test double of the node's chain view (getblockcount / getblockhash)."""

    def __init__(self) -> None:
        self.hashes: dict[int, str] = {}

    async def getblockcount(self) -> int:
        return max(self.hashes, default=0)

    async def getblockhash(self, height: int) -> str:
        return self.hashes[height]


async def test_update_blocks_confirms_and_orphans(make_config: MakeConfig) -> None:
    config = make_config(scheme="prop", fee_percent=0, maturity=3)
    async with await Ledger.open(config) as ledger:
        first = await ledger.record_share(share("a", 1, height=10))
        b1 = await ledger.record_block(found(first, reward=1000, network_difficulty=1, height=10))
        second = await ledger.record_share(share("b", 1, height=11))
        b2 = await ledger.record_block(found(second, reward=2000, network_difficulty=1, height=11))
        chain = ChainDouble()
        chain.hashes = {10: b1.hash, 11: "ee" * 32}  # a reorg replaced block 11
        changed = await ledger.update_blocks(chain)
        assert [(b.id, s) for b, s in changed] == [(b2.id, BlockStatus.ORPHANED)]
        chain.hashes[12] = "cc" * 32  # block 10 now has 3 confirmations
        changed = await ledger.update_blocks(chain)
        assert [(b.id, s) for b, s in changed] == [(b1.id, BlockStatus.CONFIRMED)]
        rows = {r.account: (r.immature, r.payable) for r in await ledger.balances()}
        assert rows == {"a": (0, 1000), "b": (0, 0)}
        assert await ledger.update_blocks(chain) == []


async def test_ledger_sink_takes_the_stratum_servers_records(make_config: MakeConfig) -> None:
    from pool.ledger import LedgerSink
    from pool.shares.accepted import AcceptedShare, ShareSink

    async with await Ledger.open(make_config()) as ledger:
        sink = LedgerSink(ledger)
        assert isinstance(sink, ShareSink)
        records = [
            AcceptedShare(worker="addr1.rig1", username="addr1", difficulty=0.001,
                          share_difficulty=0.5, job_id="7", height=12, is_block=False,
                          block_hash=None, remote="127.0.0.1", time=1.5),
            AcceptedShare(worker="addr2.rig", username="addr2", difficulty=2.0,
                          share_difficulty=9e9, job_id="7", height=12, is_block=True,
                          block_hash="AB" * 32, remote="127.0.0.1", time=1.5),
        ]
        ids = await sink.record_shares(records)
        stored = dict(ledger.store.shares())
        assert stored[ids[0]].difficulty == Fraction(0.001)  # the float's exact value
        assert (stored[ids[0]].account, stored[ids[0]].worker) == ("addr1", "addr1.rig1")
        assert stored[ids[1]].is_block and sink.block_share_id("ab" * 32) == ids[1]


async def test_several_writers_take_turns() -> None:
    """PostgreSQL runs two writer connections: both take batches from one queue, and
    every caller gets the ids of its own batch."""
    used: list[int] = []
    guard = threading.Lock()

    def writer(tag: int):
        counter = itertools.count(tag * 1_000_000)

        def write(shares: list) -> list[int]:  # stands in for a slow commit
            time.sleep(0.01)
            with guard:
                used.append(tag)
            return [next(counter) for _ in shares]
        return write

    committer = GroupCommitter([writer(1), writer(2)], delay=0)
    committer.start()
    try:
        futures = []
        for burst in range(10):
            futures += [committer.submit([share("a", 1, job=f"{burst}.{i}")], single=True)
                        for i in range(20)]
            await asyncio.sleep(0.004)
        ids = await asyncio.gather(*futures)
        assert len(set(ids)) == 200
        assert set(used) == {1, 2} and committer.rows == 200
    finally:
        await committer.close()


async def test_pipelined_commit_takes_what_arrived_during_the_previous_one() -> None:
    """delay 0: a lone share is written at once, and everything submitted while that
    commit runs goes out together as the next one, without waiting for a timer."""
    batches: list[int] = []
    writing = threading.Event()
    release = threading.Event()

    def write(shares: list) -> list[int]:  # the first commit is slow, like an fsync
        batches.append(len(shares))
        if len(batches) == 1:
            writing.set()
            release.wait(5)
        return list(range(len(shares)))

    committer = GroupCommitter(write, delay=0)
    committer.start()
    try:
        first = committer.submit([share("a", 1)], single=True)
        assert await asyncio.to_thread(writing.wait, 5)  # written alone, nobody waited for
        during = [committer.submit([share("b", 1)], single=True) for _ in range(10)]
        release.set()
        async with asyncio.timeout(10):  # resolved by the next commit, not left waiting
            await asyncio.gather(first, *during)
        assert batches == [1, 10]
        assert committer.commits == 2 and committer.rows == 11
    finally:
        await committer.close()


async def test_default_policy_is_pipelined(make_config: MakeConfig) -> None:
    config = make_config()
    assert config.commit_delay_ms == 0
    async with await Ledger.open(config) as ledger:
        ids = await asyncio.gather(*(ledger.record_share(share("a", 1)) for _ in range(50)))
        assert len(set(ids)) == 50
        assert 1 <= ledger.commits <= 50


async def test_postgres_share_writers_use_the_configured_synchronous_commit(
    pg_dsn: str,
) -> None:
    """Only the share writers relax synchronous_commit; accounting (settlements, payouts)
    keeps the server's setting."""
    config = LedgerConfig(backend="postgres", dsn=pg_dsn, fee_account=FEE_ACCOUNT,
                          pg_synchronous_commit="off", pg_writer_connections=2)
    async with await Ledger.open(config) as ledger:
        await ledger.record_share(share("a", 1))
        writers = [
            w.backend.connection().execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[attr-defined]
            for w in ledger.writers
        ]
        accounting = ledger.store.backend.connection().execute(  # type: ignore[attr-defined]
            "SHOW synchronous_commit"
        ).fetchone()[0]
    assert writers == ["off", "off"]
    assert accounting == "on"


async def test_sqlite_synchronous_setting_reaches_the_writer(tmp_path: Path) -> None:
    for setting, code in (("FULL", 2), ("NORMAL", 1)):
        config = LedgerConfig(path=tmp_path / f"{setting}.sqlite3", fee_account=FEE_ACCOUNT,
                              sqlite_synchronous=setting)
        async with await Ledger.open(config) as ledger:
            await ledger.record_share(share("a", 1))
            writer = ledger.writers[0].backend
            assert writer.conn.execute("PRAGMA synchronous").fetchone()[0] == code  # type: ignore[attr-defined]
            assert writer.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # type: ignore[attr-defined]


async def test_ledger_sink_remembers_float_difficulties_exactly(make_config: MakeConfig) -> None:
    from pool.shares.accepted import AcceptedShare

    def record(difficulty: object) -> AcceptedShare:
        return AcceptedShare(worker="addr1.rig1", username="addr1", difficulty=difficulty,  # type: ignore[arg-type]
                             share_difficulty=1.0, job_id="7", height=12, is_block=False,
                             block_hash=None, remote="127.0.0.1", time=1.5)

    async with await Ledger.open(make_config()) as ledger:
        sink = LedgerSink(ledger)
        ids = await sink.record_shares([record(0.001), record(0.001), record(1.0), record(3)])
        stored = dict(ledger.store.shares())
        assert [stored[i].difficulty for i in ids] == [
            Fraction(0.001), Fraction(0.001), Fraction(1), Fraction(3)
        ]
        with pytest.raises(InvalidShare):  # True equals the remembered 1.0 but is no number
            await sink.record_shares([record(True)])


@pytest.mark.parametrize("delay", [0.0, 0.001])
async def test_no_submit_is_left_waiting_with_several_writers_lingering(delay: float) -> None:
    """Two writers, one lingering for company while the other sleeps for want of work:
    the wake-up a new share sends must reach the sleeping one, every time. (A single
    condition for both waits once let that wake-up land on the lingering writer and
    left a later share unanswered for good: the crash test hung.) Many submitters at
    random moments, commits of random length, for a second and a half."""
    counter = itertools.count()
    guard = threading.Lock()

    def write(shares: list) -> list[int]:
        time.sleep(random.random() * 0.002)
        with guard:
            return [next(counter) for _ in shares]

    committer = GroupCommitter([write, write], delay=delay, max_batch=20)
    committer.start()

    async def submitter(seed: int) -> int:
        rng = random.Random(seed)
        sent = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            n = rng.choice((1, 1, 2, 30))
            futures = [committer.submit([share("a", 1, job=f"{seed}.{sent + i}")], single=True)
                       for i in range(n)]  # fmt: skip
            await asyncio.wait_for(asyncio.gather(*futures), 5.0)
            sent += n
            await asyncio.sleep(rng.random() * 0.002)
        return sent

    try:
        sent = sum(await asyncio.gather(*(submitter(k) for k in range(8))))
    finally:
        await committer.close()
    assert committer.rows == sent
