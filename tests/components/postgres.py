"""A throwaway PostgreSQL database on 127.0.0.1:5432 for one test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.components.require import component_missing

PG_ADMIN_DSN = os.environ.get("SURPLUS_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres")


@contextmanager
def postgres_database(prefix: str = "surplus_test") -> Iterator[str]:
    """Create a database of our own, yield its DSN, drop it afterwards."""
    try:
        admin = psycopg.connect(
            f"{PG_ADMIN_DSN} dbname=postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        component_missing(f"PostgreSQL is not reachable at {PG_ADMIN_DSN!r}: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_DSN} dbname={name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
