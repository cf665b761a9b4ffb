"""Open the configured backend, with the schema migrated."""

from __future__ import annotations

from pool.ledger.backend import Backend
from pool.ledger.config import LedgerConfig
from pool.ledger.store import LedgerStore


def open_backend(
    config: LedgerConfig, migrate: bool = True, share_writer: bool = False
) -> Backend:
    """`share_writer`: the connection of a group-commit thread (SQLite: no checkpoints
    inside its commits, the Ledger runs a `Checkpointer` beside it; PostgreSQL: the
    configured synchronous_commit, which only share inserts ever use)."""
    backend: Backend
    if config.backend == "sqlite":
        from pool.ledger.sqlite_backend import SqliteBackend

        backend = SqliteBackend(
            config.path, config.sqlite_synchronous, autocheckpoint=not share_writer
        )
    else:
        from pool.ledger.postgres_backend import PostgresBackend

        backend = PostgresBackend(
            config.dsn, synchronous_commit=config.pg_synchronous_commit if share_writer else None
        )
    if migrate:
        try:
            backend.migrate()
        except BaseException:
            backend.close()
            raise
    return backend


def open_store(config: LedgerConfig, migrate: bool = True) -> LedgerStore:
    return LedgerStore(open_backend(config, migrate), config)
