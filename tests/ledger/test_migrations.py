"""Versioned migrations on both backends: applied once, in order, on start."""

from __future__ import annotations

import threading

import pytest

from pool.ledger import SchemaTooNew, open_backend
from pool.ledger.migrations import Migration, check_order

from .conftest import MakeConfig

TABLES = {"shares", "network", "blocks", "rounds", "settlements", "credits", "balances",
          "payout_batches", "payouts", "quarantine", "schema_version", "bans"}


def table_names(backend) -> set[str]:  # type: ignore[no-untyped-def]
    with backend.read() as tx:
        if backend.name == "sqlite":
            rows = tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = tx.all(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
    return {r[0] for r in rows}


def test_fresh_database_gets_every_migration_once(make_config: MakeConfig) -> None:
    backend = open_backend(make_config(), migrate=False)
    try:
        assert backend.migrate() == [m.version for m in backend.migrations]
        assert table_names(backend) >= TABLES
        with backend.read() as tx:
            rows = tx.all("SELECT version, name FROM schema_version ORDER BY version")
        assert [(v, n) for v, n in rows] == [(m.version, m.name) for m in backend.migrations]
        assert backend.migrate() == []  # second start: nothing to do
        assert backend.schema_version() == len(backend.migrations)
    finally:
        backend.close()


def test_old_database_is_upgraded_in_order(make_config: MakeConfig) -> None:
    backend = open_backend(make_config(), migrate=False)
    try:
        full = backend.migrations
        assert backend.migrate(full[:1]) == [1]
        assert "payout_batches" not in table_names(backend)
        assert backend.migrate(full) == [v.version for v in full[1:]]
        assert table_names(backend) >= TABLES
    finally:
        backend.close()


def test_newer_schema_is_refused(make_config: MakeConfig) -> None:
    backend = open_backend(make_config())
    try:
        with backend.write() as tx:
            tx.run(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (len(backend.migrations) + 1, "from the future", 0.0),
            )
        with pytest.raises(SchemaTooNew):
            backend.migrate()
    finally:
        backend.close()


def test_failed_migration_rolls_back(make_config: MakeConfig) -> None:
    backend = open_backend(make_config(), migrate=False)
    try:
        broken = (*backend.migrations, Migration(
            len(backend.migrations) + 1, "broken",
            ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"),
        ))
        with pytest.raises(Exception, match=r"(?i)syntax"):
            backend.migrate(broken)
        assert "half_done" not in table_names(backend)
        assert backend.schema_version() == len(backend.migrations)
    finally:
        backend.close()


def test_processes_starting_together_migrate_once(make_config: MakeConfig) -> None:
    config = make_config()
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            backend = open_backend(config, migrate=False)
            barrier.wait()
            results.append(backend.migrate())
            backend.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    applied = sorted(v for r in results for v in r)
    backend = open_backend(config, migrate=False)
    assert applied == [m.version for m in backend.migrations]  # each exactly once
    backend.close()


def test_check_order_rejects_gaps() -> None:
    with pytest.raises(ValueError, match="expected 2"):
        check_order((Migration(1, "a", ()), Migration(3, "c", ())))
