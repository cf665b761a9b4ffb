"""Which pool process leads the ledger: follows found blocks to maturity or orphanhood
and settles PPS/FPPS shares, for the whole cluster.

PostgreSQL: the leader holds a session-level advisory lock (`LEADER_LOCK`) on a
connection of its own. Every other process asks for it every few seconds
(`pg_try_advisory_lock`, which never waits); when the leader's process dies its
connection closes and the server releases the lock at once, so the next ask wins it (a
host that vanishes without closing its TCP connection is noticed by the keepalives below,
in about 11 s). The leader checks its connection before each round and steps down when
it broke (the lock may be someone else's by then). Accounting writes themselves still
run under the transaction-level ACCOUNTING_LOCK of pool.ledger.postgres_backend, so even
two processes that both believed they led could never interleave them: leadership
decides who does the work, not whether it is safe.

SQLite: one process owns the file, so it always leads: a stand-alone pool, or the ledger
writer process of a SQLite cluster (pool.cluster.ledger_process), whose pool processes
write through it and never lead (pool.ledger.remote).

Synchronous; the Ledger runs `check` on its accounting thread.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pool.ledger.config import LedgerConfig
from pool.ledger.postgres_backend import ACCOUNTING_LOCK

log = logging.getLogger(__name__)

LEADER_LOCK = ACCOUNTING_LOCK + 1


class Leadership:
    def __init__(self, config: LedgerConfig, connect_timeout: int = 10) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self.leader = config.backend == "sqlite"
        self._conn: Any = None

    def check(self) -> bool:
        """Whether this process leads now: keep the lock if held, else try to take it.
        Never raises for a database that is away: it just does not lead."""
        if self.config.backend == "sqlite":
            return True
        import psycopg

        try:
            conn = self._connection()
            if self.leader:
                conn.execute("SELECT 1")
                return True
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
            self.leader = bool(row and row[0])
        except psycopg.Error as exc:
            if self.leader:
                log.warning("ledger leadership lost: its connection failed: %s",
                            str(exc)[:300])  # fmt: skip
            self.leader = False
            self._drop()
        return self.leader

    def _connection(self) -> Any:
        import psycopg

        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._drop()
            self.leader = False  # a new session holds no lock
            conn = self._conn = psycopg.connect(
                self.config.dsn,
                autocommit=True, connect_timeout=self.connect_timeout,
                application_name="surplus-pool-leader", keepalives=1, keepalives_idle=5,
                keepalives_interval=2, keepalives_count=3,
            )
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing left to do
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Let go (closing the session releases the lock)."""
        self._drop()
        self.leader = self.config.backend == "sqlite"
