"""SQLite backend: one file, WAL mode, zero set-up.

Durability. `synchronous=FULL` (the default) fsyncs the WAL at every commit, so a
committed group of shares survives power loss. `synchronous=NORMAL` with WAL skips that
fsync but still write()s every committed frame into the WAL before COMMIT returns, so the
data sits in the kernel's page cache: a process killed with SIGKILL (or crashing) loses
nothing, because the kernel writes the page cache out regardless of the process; only a
kernel crash or power loss can drop the last commits. The pool's promise ("a share
answered `true` survives kill -9") holds with either; FULL also covers the machine.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pool.ledger.backend import Backend, Row, Tx
from pool.ledger.migrations.sqlite import MIGRATIONS
from pool.ledger.records import Share

# One statement per group commit: the rows travel as one JSON text parameter. In
# autocommit mode the statement is its own transaction, so the commit costs the writer
# thread a single release of the GIL (executemany releases and re-takes it per row, and
# every re-take can wait out the interpreter's switch interval behind the event loop).
INSERT_SHARES_JSON = (
    "INSERT INTO shares (account, worker, difficulty, job_id, time, height, is_block) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, "
    "value ->> 6 FROM json_each(?)"
)


class SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount


class SqliteBackend(Backend):
    name = "sqlite"
    migrations = MIGRATIONS

    def __init__(
        self, path: str | Path, synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_s: float = 30.0, autocheckpoint: bool = True,
    ) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise FileNotFoundError(f"ledger directory {self.path.parent} does not exist")
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
        )
        mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: could not enable WAL mode (got {mode!r})")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"sqlite synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            # The share writer must not copy the WAL back into the database inside a
            # commit (a checkpoint fsyncs the database file: tens of ms of latency for
            # every share of that group); `Checkpointer` does it on its own thread.
            self.conn.execute("PRAGMA wal_autocheckpoint=0")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        self.conn.execute(begin)
        try:
            yield SqliteTx(self.conn)
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def write(self) -> Any:
        # IMMEDIATE takes the database's single write lock up front, so a read-then-write
        # accounting step can never be overtaken by another writer.
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> Any:
        return self._transaction("BEGIN")

    def insert_shares(self, shares: Sequence[Share]) -> list[int]:
        if not shares:
            return []
        payload = json.dumps(
            [
                (s.account, s.worker, str(s.difficulty), s.job_id, s.time, s.height,
                 int(s.is_block))
                for s in shares
            ],
            ensure_ascii=False, allow_nan=False,
        )
        cursor = self.conn.execute(INSERT_SHARES_JSON, (payload,))
        n = len(shares)
        if cursor.rowcount != n:
            raise RuntimeError(f"inserted {cursor.rowcount} of {n} shares")
        last = cursor.lastrowid
        assert last is not None
        # One statement holds the write lock throughout and each new rowid is
        # max(rowid) + 1, so the batch's ids are contiguous and end at lastrowid.
        return list(range(last - n + 1, last + 1))

    def row_error(self, exc: BaseException) -> bool:
        refused = (sqlite3.IntegrityError, sqlite3.DataError)
        return isinstance(exc, refused) or super().row_error(exc)

    def share_horizon(self) -> int:
        # One writer at a time and rowid = max + 1: whatever is visible is the horizon.
        with self.read() as tx:
            return int(tx.scalar("SELECT coalesce(max(id), 0) FROM shares"))

    def close(self) -> None:
        self.conn.close()


class Checkpointer:
    """Copies the WAL back into the database every `interval` seconds from a connection and
    thread of its own. PASSIVE never waits for the writer or readers; once the WAL is fully
    copied the writer starts it from the beginning again, so it stays small."""

    def __init__(self, path: str | Path, interval: float = 0.5) -> None:
        self.path = Path(path)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-checkpoint", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
