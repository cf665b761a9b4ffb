"""SQLite schema. Amounts are INTEGER (64-bit) satoshis; difficulties TEXT fractions."""

from __future__ import annotations

from pool.ledger.migrations import Migration
from pool.ledger.migrations.schema import render

MIGRATIONS: tuple[Migration, ...] = render({
    "key": "INTEGER PRIMARY KEY",  # the rowid: ids are assigned on insert
    "int": "INTEGER",
    "real": "REAL",
    "flag": "INTEGER NOT NULL CHECK (is_block IN (0, 1))",
})  # fmt: skip
