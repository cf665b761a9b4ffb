"""The SQLite cluster's ledger writer in one process: a real WriterServer on a Unix
socket in front of a real SQLite ledger, and WriterClients as the pool processes hold
them. An answer means committed; a bad frame closes only its own connection, with a log
line; the writer going away fails what waits and the client finds the next writer. A
ban one client sends reaches the others that follow the bans, and the ledger's table,
from which a client (re)connecting later reads the running bans."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import pytest

from pool.ledger import Ledger, LedgerConfig, open_backend, open_store
from pool.ledger.remote import LedgerUnavailable, WriterClient
from pool.ledger.writer_server import WriterServer
from tests.waiting import wait_for

from .factories import FEE_ACCOUNT, found, share


def sqlite_config(tmp_path: Path) -> LedgerConfig:
    return LedgerConfig(backend="sqlite", path=tmp_path / "ledger.sqlite3",
                        fee_account=FEE_ACCOUNT)  # fmt: skip


class Writer:
    """A writer process's parts, started and stopped at will."""

    def __init__(self, config: LedgerConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self.ledger: Ledger | None = None
        self.server: WriterServer | None = None

    async def start(self) -> WriterServer:
        self.ledger = await Ledger.open(self.config)
        self.server = WriterServer(self.ledger, self.path)
        await self.server.start()
        return self.server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        if self.ledger is not None:
            await self.ledger.close()
        self.server = self.ledger = None


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[Writer]:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    started = Writer(sqlite_config(tmp_path), run_dir / "ledger.sock")
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@contextlib.asynccontextmanager
async def client_of(writer: Writer) -> AsyncIterator[WriterClient]:
    client = WriterClient(writer.path)
    await client.start(10)
    try:
        yield client
    finally:
        await client.close()


async def test_an_answer_means_the_batch_is_committed(writer: Writer) -> None:
    observer = open_backend(writer.config, migrate=False)  # as a pool process reads the file
    try:
        async with client_of(writer) as a, client_of(writer) as b:
            batches = [[share(f"acct{i}", Fraction(i + 1, 3), worker=f"acct{i}.rig{j}")
                        for j in range(5)] for i in range(20)]  # fmt: skip
            for ids in await asyncio.gather(*(
                (a if i % 2 else b).record_shares(batch) for i, batch in enumerate(batches)
            )):
                with observer.read() as tx:
                    rows = tx.all(f"SELECT id FROM shares WHERE id IN ({','.join('?' * 5)})",
                                  ids)  # fmt: skip
                assert len(rows) == 5
            assert a.rows + b.rows == 100
    finally:
        observer.close()
    stored = open_store(writer.config)
    try:
        shares = [s for _, s in stored.shares()]
    finally:
        stored.close()
    assert sorted((s.worker, s.difficulty) for s in shares) == sorted(
        (s.worker, s.difficulty) for batch in batches for s in batch
    )


async def test_network_and_blocks_go_through_the_writer(writer: Writer) -> None:
    async with client_of(writer) as client:
        await client.record_network(500, Fraction(10**12, 7), 5_000_000_000, 1234)
        ids = await client.record_shares([share("alice", 4), share("bob", 4, is_block=True)])
        block = found(ids[1], reward=5_000_001_234, network_difficulty=Fraction(10**12, 7))
        row = await client.record_block(block)
        assert row.share_id == ids[1] and row.credited == 5_000_001_234
        again = await client.record_block(block)
        assert again.id == row.id


async def test_the_socket_is_private(writer: Writer) -> None:
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(writer.path).st_mode)


@pytest.mark.parametrize("garbage", [
    b"\xff\xff\xff\xff",  # a length over the bound
    (5).to_bytes(4, "big") + b"nope!",  # not JSON
    (2).to_bytes(4, "big") + b"[]",  # not an object
    (25).to_bytes(4, "big") + b'{"id": 1, "op": "delete"}',  # no such op
    (38).to_bytes(4, "big") + b'{"id": 1, "op": "shares", "rows": [1]}',  # a bad row
    (66).to_bytes(4, "big")
    + b'{"id": 1, "op": "ban", "key": "x", "until": 1, "reason": "", "node": ""}',  # bad key
])  # fmt: skip
async def test_a_bad_frame_closes_its_connection_only(
    writer: Writer, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_of(writer) as client:
        reader, raw = await asyncio.open_unix_connection(str(writer.path))
        with caplog.at_level(logging.WARNING, logger="pool.ledger.writer_server"):
            raw.write(garbage)
            await raw.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing said
        raw.close()
        assert "closing a connection that broke the protocol" in caplog.text
        assert writer.server is not None and writer.server.refused == 1
        assert len(await client.record_shares([share("alice", 1)])) == 1  # others go on


async def test_the_writer_going_away_fails_waiting_requests_and_the_client_comes_back(
    writer: Writer,
) -> None:
    async with client_of(writer) as client:
        await client.record_shares([share("alice", 1)])
        await writer.stop()
        await wait_for(lambda: not client._connected.is_set(), 10, "the loss noticed")
        with pytest.raises(LedgerUnavailable):
            await client.record_shares([share("alice", 2)])
        await writer.start()
        await wait_for(lambda: client._connected.is_set(), 10, "the client back")
        assert len(await client.record_shares([share("alice", 3)])) == 1
        assert client.reconnects == 1


async def test_requests_beyond_the_pending_bound_fail_at_once(writer: Writer) -> None:
    client = WriterClient(writer.path, max_pending=0)
    await client.start(10)
    try:
        with pytest.raises(LedgerUnavailable, match="already wait"):
            await client.record_shares([share("alice", 1)])
    finally:
        await client.close()


async def test_no_writer_fails_the_start_naming_the_socket(tmp_path: Path) -> None:
    client = WriterClient(tmp_path / "nobody.sock")
    with pytest.raises(LedgerUnavailable, match=r"nobody\.sock"):
        await client.start(0.3)


async def test_a_pool_process_ledger_writes_through_the_writer_and_reads_the_file(
    writer: Writer,
) -> None:
    ledger = await Ledger.open(writer.config, writer_socket=writer.path)
    try:
        share_id = await ledger.record_share(share("carol", 2))
        ids = await ledger.record_shares([share("carol", 3), share("dave", 1)])
        assert ids == [share_id + 1, share_id + 2]
        assert not await ledger.lead()
        assert await ledger.quarantined() == 0
        assert [s.account for _, s in await asyncio.to_thread(ledger.store.shares)] == [
            "carol", "carol", "dave"]  # fmt: skip
    finally:
        await ledger.close()


async def test_batches_of_one_turn_travel_as_one_request(writer: Writer) -> None:
    """Fifty callers in one turn of the loop: one request, one commit on the writer, and
    each caller gets its own id."""
    assert writer.ledger is not None
    async with client_of(writer) as client:
        before = writer.ledger.commits
        ids = await asyncio.gather(*(client.record_shares([share(f"acct{i}", 1)])
                                     for i in range(50)))  # fmt: skip
        assert writer.ledger.commits == before + 1
    flat = [one for got in ids for one in got]
    assert flat == list(range(flat[0], flat[0] + 50))


async def test_a_ban_reaches_the_other_followers_and_later_connections(writer: Writer) -> None:
    heard: dict[str, list[tuple[str, float]]] = {"a": [], "b": [], "c": []}
    assert writer.server is not None
    async with client_of(writer) as a, client_of(writer) as b:
        a.follow_bans(lambda key, until: heard["a"].append((key, until)))
        b.follow_bans(lambda key, until: heard["b"].append((key, until)))
        await wait_for(lambda: len(writer.server._followers) == 2, 10, "both following")
        a.publish_ban("203.0.113.7", 600, "too many bad requests", node="node 9 process 0")
        await wait_for(lambda: heard["b"], 10, "the ban at the other process")
        key, until = heard["b"][0]
        assert key == "203.0.113.7" and 590 < until - time.time() <= 600
        a.publish_ban("2001:db8::/64", 60, "x")
        a.publish_ban("not an address", 60, "x")  # never sent: it would close the connection
        await wait_for(lambda: len(heard["b"]) == 2, 10, "the second ban")
        assert heard["a"] == [] and writer.server.refused == 0  # its own bans stay its own
        assert writer.server.pushed == 2
        await wait_for(lambda: writer.server.in_flight == 0, 10, "both stored")
        # A process (re)connecting later reads the bans still running.
        async with client_of(writer) as c:
            c.follow_bans(lambda key, until: heard["c"].append((key, until)))
            await wait_for(lambda: len(heard["c"]) == 2, 10, "the running bans")
    assert {k for k, _ in heard["c"]} == {"203.0.113.7", "2001:db8::/64"}
    store = open_store(writer.config)
    try:
        assert [k for k, _ in store.running_bans(time.time(), 10)] == [
            "203.0.113.7", "2001:db8::/64"]  # fmt: skip  # the longest first
    finally:
        store.close()


async def test_a_client_follows_the_bans_again_after_the_writer_restarts(writer: Writer) -> None:
    heard: list[tuple[str, float]] = []
    async with client_of(writer) as a, client_of(writer) as b:
        b.follow_bans(lambda key, until: heard.append((key, until)))
        await writer.stop()
        await wait_for(lambda: not b._connected.is_set(), 10, "the loss noticed")
        await writer.start()
        await wait_for(lambda: a._connected.is_set() and b._connected.is_set(), 10, "back")
        server = writer.server
        assert server is not None
        await wait_for(lambda: len(server._followers) == 1, 10, "b following the new writer")
        a.publish_ban("198.51.100.9", 60, "x")
        await wait_for(lambda: heard, 10, "the ban through the new writer")
        assert heard[0][0] == "198.51.100.9"


async def test_a_stuck_writer_is_an_error_in_time_and_its_late_answer_is_dropped(
    writer: Writer,
) -> None:
    """The file's write lock held from outside (a writer alive but stuck): the request
    fails after the client's deadline, never true; once the lock goes, the late answer
    is dropped and the same connection serves the next request."""
    import sqlite3

    client = WriterClient(writer.path, answer_timeout=0.5)
    await client.start(10)
    holder = sqlite3.connect(writer.config.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(LedgerUnavailable, match="did not answer within"):
            await client.record_shares([share("alice", 1)])
        holder.execute("ROLLBACK")
        reconnects = client.reconnects
        ids = await client.record_shares([share("bob", 1)])
        assert len(ids) == 1 and client.reconnects == reconnects
    finally:
        holder.close()
        await client.close()
    stored = open_store(writer.config)
    try:  # the stuck batch committed once the lock went: the miner was told less, not more
        assert sorted(s.account for _, s in stored.shares()) == ["alice", "bob"]
    finally:
        stored.close()
