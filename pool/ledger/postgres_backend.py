"""PostgreSQL backend (psycopg 3): several pool processes write to one database.

Share inserts from different processes run concurrently; accounting writes take one
transaction-scoped advisory lock so they run one at a time across all processes. Commits
are ordinary (synchronous_commit as the server is configured, `on` by default): COMMIT
returns after the WAL is flushed. The share writers may set `synchronous_commit = off` on
their own sessions (`LedgerConfig.pg_synchronous_commit`): their COMMIT then returns once
the record is in the server's WAL buffers, which a kill -9 of the pool cannot touch but a
crash of the server can. WAL is one sequence, so a later synchronous commit (accounting,
payouts) flushes every share before it: a crash never leaves a settlement that counts
shares the database lost.

A group commit is ONE statement that inserts the whole batch from a JSON array and
returns the new ids. COPY moves rows faster per row but needs several round trips per
batch (draw ids, COPY, COMMIT) and returns no ids; each round trip is a point where the
writer thread must win the GIL back from a busy event loop, which cost more latency than
COPY saved (measured with benchmarks/ledger.py).

Share ids are the round and settlement boundaries, so a reader must know that no share
with a smaller id can still commit. Inserts hold ROW EXCLUSIVE on `shares` while they
draw ids from the sequence; `share_horizon` takes SHARE (which conflicts with it) for an
instant, so every transaction that drew an id has finished, and any later one draws a
greater id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import psycopg

from pool.ledger.backend import Backend, Row, Tx
from pool.ledger.migrations.postgres import MIGRATIONS
from pool.ledger.records import Share

ACCOUNTING_LOCK = 0x5355_5250_4C55_53  # "SURPLUS": one key for every accounting writer

# One statement, in autocommit mode its own transaction: a single round trip (and a
# single release of the GIL by the writer thread) per group commit. The INSERT takes ROW
# EXCLUSIVE on `shares` before it draws ids, which is what `share_horizon` relies on. Ids
# are drawn in row order (the order of the JSON array), so sorted ids match the rows.
INSERT_SHARES_JSON = (
    "WITH ins AS (INSERT INTO shares (account, worker, difficulty, job_id, time, height, "
    "is_block) SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, (r ->> 4)::float8, (r ->> 5)::int8, "
    "(r ->> 6)::bool FROM json_array_elements(%s::json) WITH ORDINALITY AS t (r, n) "
    "ORDER BY n RETURNING id) SELECT array_agg(id ORDER BY id) FROM ins"
)

_converted: dict[str, str] = {}


def to_pg(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (the shared SQL never contains a literal ?/%)."""
    out = _converted.get(sql)
    if out is None:
        out = _converted[sql] = sql.replace("?", "%s")
    return out


class PostgresTx(Tx):
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(to_pg(sql), tuple(params))
        return cur.fetchall() if cur.description is not None else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(to_pg(sql), tuple(params)).rowcount


class PostgresBackend(Backend):
    name = "postgres"
    migrations = MIGRATIONS

    def __init__(
        self, dsn: str, connect_timeout_s: int = 10,
        synchronous_commit: Literal["on", "off"] | None = None,
    ) -> None:
        """`synchronous_commit`: set on this session (the share writers'), None keeps the
        server's setting (accounting and payouts always do); see LedgerConfig."""
        if synchronous_commit not in (None, "on", "off"):
            raise ValueError(f"synchronous_commit must be on or off, got {synchronous_commit!r}")
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self.synchronous_commit = synchronous_commit
        self._conn: psycopg.Connection | None = None
        self.connection()

    def connection(self) -> psycopg.Connection:
        """The live connection, reconnecting once it broke (a restarted server must not
        leave the pool refusing shares for ever)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout_s
            )
            if self.synchronous_commit is not None:
                conn.execute(f"SET synchronous_commit = {self.synchronous_commit}")
            self._conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        conn = self.connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ACCOUNTING_LOCK,))
            yield PostgresTx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        conn = self.connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield PostgresTx(conn)

    def insert_shares(self, shares: Sequence[Share]) -> list[int]:
        if not shares:
            return []
        payload = json.dumps(
            [
                (s.account, s.worker, str(s.difficulty), s.job_id, s.time, s.height, s.is_block)
                for s in shares
            ],
            ensure_ascii=False, allow_nan=False,
        )
        row = self.connection().execute(INSERT_SHARES_JSON, (payload,)).fetchone()
        ids = list(row[0]) if row is not None and row[0] is not None else []
        if len(ids) != len(shares):
            raise RuntimeError(f"inserted {len(ids)} of {len(shares)} shares")
        return ids

    def row_error(self, exc: BaseException) -> bool:
        # class 22 (data exception: a NUL in text, a number out of range) and 23
        # (integrity): the server refused a value, the connection is fine
        refused = (psycopg.DataError, psycopg.IntegrityError)
        return isinstance(exc, refused) or super().row_error(exc)

    def share_horizon(self) -> int:
        conn = self.connection()
        with conn.transaction():
            conn.execute("LOCK TABLE shares IN SHARE MODE")
            row = conn.execute("SELECT coalesce(max(id), 0) FROM shares").fetchone()
            assert row is not None  # an aggregate always answers one row
            return int(row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
