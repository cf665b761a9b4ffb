"""Versioned schema migrations, an ordered list of SQL per backend.

A migration is never edited once released; a change to the schema is a new migration
with the next version. `schema_version` holds one row per applied migration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def check_order(migrations: tuple[Migration, ...]) -> None:
    """Versions must run 1, 2, 3 ... with no gap: a gap means a lost migration file."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, expected {expected}"
            )
