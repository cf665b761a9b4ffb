"""Versioned migrations on both backends: applied once, in order, on start."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pool.ledger import SchemaTooNew, open_backend
from pool.ledger.migrations import Migration, check_order, postgres, sqlite

from .conftest import MakeConfig

TABLES = {"shares", "network", "blocks", "rounds", "settlements", "credits", "balances",
          "payout_batches", "payouts", "quarantine", "schema_version", "bans"}


def table_names(backend) -> set[str]:
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
    barrier = threading.Barrier(4)

    def start(_: int) -> list[int]:
        backend = open_backend(config, migrate=False)
        try:
            barrier.wait()
            return backend.migrate()
        finally:
            backend.close()

    with ThreadPoolExecutor(4) as pool:  # a failure in any of them is raised here
        results = list(pool.map(start, range(4)))
    applied = sorted(v for r in results for v in r)
    backend = open_backend(config, migrate=False)
    assert applied == [m.version for m in backend.migrations]  # each exactly once
    backend.close()


def test_check_order_rejects_gaps() -> None:
    with pytest.raises(ValueError, match="expected 2"):
        check_order((Migration(1, "a", ()), Migration(3, "c", ())))


# The SHA-256 of each released migration's statements, as each backend runs them. Both
# backends render one schema (pool/ledger/migrations/schema.py); a released migration is
# never edited, so a change here is a mistake: add a migration instead.
RELEASED = {
    "sqlite": {1: "869f75271cbe805b", 2: "39197920905a368c", 3: "af54a9ca943089ae",
               4: "562f18101753f5b1", 5: "8de567f607b096f8"},
    "postgres": {1: "a1f93280bdef3b69", 2: "ea3dce463b893c26", 3: "37eb26a3ebc63af6",
                 4: "562f18101753f5b1", 5: "1eb704d4f708fcc0"},
}  # fmt: skip


@pytest.mark.parametrize("name, migrations", [("sqlite", sqlite.MIGRATIONS),
                                              ("postgres", postgres.MIGRATIONS)])  # fmt: skip
def test_released_migrations_are_unchanged(name: str, migrations: tuple[Migration, ...]) -> None:
    for m in migrations:
        if m.version in RELEASED[name]:
            digest = hashlib.sha256("\n".join(m.statements).encode()).hexdigest()[:16]
            assert digest == RELEASED[name][m.version], f"{name} migration {m.version} changed"
