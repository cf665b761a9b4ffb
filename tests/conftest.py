"""Shared fixtures: the real components (bcoin regtest, PostgreSQL) tests talk to."""

import pytest

pytest_plugins = ["tests.components.fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that talks to PostgreSQL is an integration test, whether it takes the
    `pg_dsn` fixture or is the "postgres" variant of a parametrised test (the ledger's
    `backend_name`, a `backend` parameter): marked here, so no new one can miss it and
    `-m "not integration"` never opens a database."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if "pg_dsn" in getattr(item, "fixturenames", ()) or "postgres" in params:
            item.add_marker(pytest.mark.integration)
