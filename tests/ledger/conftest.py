"""Fixtures: every store test runs against SQLite (a file in tmp_path) and PostgreSQL
(a database of its own on 127.0.0.1:5432, created and dropped by the test). Without
PostgreSQL the postgres variants skip locally and FAIL when CI=true."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pool.ledger import LedgerConfig, LedgerStore, open_store

from .factories import FEE_ACCOUNT

PG_ADMIN_DSN = os.environ.get("SURPLUS_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres")


def pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(
            f"{PG_ADMIN_DSN} dbname=postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_DSN!r}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database for this test alone, dropped afterwards."""
    admin = pg_admin()
    name = f"surplus_test_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_DSN} dbname={name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


MakeConfig = Callable[..., LedgerConfig]


@pytest.fixture
def make_config(backend_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> MakeConfig:
    dsn = request.getfixturevalue("pg_dsn") if backend_name == "postgres" else ""

    def make(**overrides: object) -> LedgerConfig:
        values: dict[str, object] = {
            "backend": backend_name,
            "path": tmp_path / "ledger.sqlite3",
            "fee_account": FEE_ACCOUNT,
            "commit_delay_ms": 1.0,
        }
        if dsn:
            values["dsn"] = dsn
        values.update(overrides)
        return LedgerConfig(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def open_ledger_store(make_config: MakeConfig) -> Iterator[Callable[..., LedgerStore]]:
    """Open stores with config overrides; all are closed at the end of the test."""
    opened: list[LedgerStore] = []

    def make(**overrides: object) -> LedgerStore:
        store = open_store(make_config(**overrides))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()

