"""Shared fixtures: the real components (bcoin regtest, PostgreSQL) tests talk to."""

pytest_plugins = ["tests.components.fixtures"]
