"""What the two database backends have in common: transactions, share inserts, the share
horizon, and applying migrations. Domain operations (store.py) are written once on top
of this, in SQL both SQLite and PostgreSQL accept, with `?` placeholders.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pool.ledger.errors import SchemaTooNew
from pool.ledger.migrations import Migration, check_order
from pool.ledger.records import Share

Row = tuple[Any, ...]

SCHEMA_VERSION_DDL = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""


class Tx(ABC):
    """One open transaction. SQL uses `?` placeholders on both backends."""

    @abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; return the number of rows changed."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT ... RETURNING id and return the id."""
        row = self.one(sql, params)
        assert row is not None, "INSERT ... RETURNING gave no row"
        return int(row[0])


class Backend(ABC):
    """One connection to the ledger database, used by one thread at a time."""

    name: str
    migrations: tuple[Migration, ...]

    @abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction, serialised against every other accounting writer in any
        process (share inserts are not serialised against each other)."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction: one consistent snapshot, blocks no writer."""

    @abstractmethod
    def insert_shares(self, shares: Sequence[Share]) -> list[int]:
        """Insert and commit in one durable transaction; return the ids in order."""

    def row_error(self, exc: BaseException) -> bool:
        """Whether `exc` from `insert_shares` is about a row's content (the database, or
        the encoding on the way to it, refused a value), so the other rows of the batch
        can still be stored one by one; connection and server failures are not."""
        return isinstance(exc, (UnicodeError, ValueError, OverflowError))

    @abstractmethod
    def share_horizon(self) -> int:
        """The highest share id below which no share can still appear: every share with a
        smaller or equal id is committed, and every later insert gets a greater id."""

    @abstractmethod
    def close(self) -> None: ...

    def iter_shares_desc(
        self, upto_id: int, after_id: int, chunk: int = 20_000
    ) -> Iterator[tuple[int, str, str]]:
        """(id, account, difficulty text) for after_id < id <= upto_id, newest first, read in
        keyset pages so a large PPLNS window never holds one huge result in memory."""
        high = upto_id
        while high > after_id:
            with self.read() as tx:
                rows = tx.all(
                    "SELECT id, account, difficulty FROM shares WHERE id <= ? AND id > ? "
                    "ORDER BY id DESC LIMIT ?",
                    (high, after_id, chunk),
                )
            if not rows:
                return
            yield from rows
            high = rows[-1][0] - 1

    def schema_version(self) -> int:
        with self.write() as tx:
            tx.run(SCHEMA_VERSION_DDL)
            return int(tx.scalar("SELECT coalesce(max(version), 0) FROM schema_version"))

    def migrate(self, migrations: tuple[Migration, ...] | None = None) -> list[int]:
        """Apply the migrations this database has not seen, one transaction each, under the
        writer lock so several pool processes starting at once apply each exactly once.
        Returns the versions applied."""
        migrations = self.migrations if migrations is None else migrations
        check_order(migrations)
        applied: list[int] = []
        for migration in migrations:
            with self.write() as tx:
                tx.run(SCHEMA_VERSION_DDL)
                current = int(tx.scalar("SELECT coalesce(max(version), 0) FROM schema_version"))
                if current > len(migrations):
                    raise SchemaTooNew(
                        f"{self.name} ledger schema is at version {current}; this release "
                        f"knows up to {len(migrations)}: upgrade surplus"
                    )
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    tx.run(statement)
                tx.run(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
                applied.append(migration.version)
        if not migrations:
            self.schema_version()
        return applied
