"""Fixtures: every store test runs against SQLite (a file in tmp_path) and PostgreSQL
(a database of its own on 127.0.0.1:5432, created and dropped by the test). The postgres
variants are integration tests (marked by tests/conftest.py); without PostgreSQL they
fail, naming it (tests/components/require.py), never skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pool.ledger import LedgerConfig, LedgerStore, open_store
from tests.components.postgres import postgres_database

from .factories import FEE_ACCOUNT


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database for this test alone, dropped afterwards."""
    with postgres_database() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


MakeConfig = Callable[..., LedgerConfig]
OpenStore = Callable[..., LedgerStore]


@pytest.fixture
def make_config(backend_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> MakeConfig:
    dsn = request.getfixturevalue("pg_dsn") if backend_name == "postgres" else ""

    def make(**overrides: object) -> LedgerConfig:
        values: dict[str, object] = {
            "backend": backend_name,
            "path": tmp_path / "ledger.sqlite3",
            "fee_account": FEE_ACCOUNT,
        }
        if dsn:
            values["dsn"] = dsn
        values.update(overrides)
        return LedgerConfig(**values)

    return make


@pytest.fixture
def open_ledger_store(make_config: MakeConfig) -> Iterator[OpenStore]:
    """Open stores with config overrides; all are closed at the end of the test."""
    opened: list[LedgerStore] = []

    def make(**overrides: object) -> LedgerStore:
        store = open_store(make_config(**overrides))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()

