"""The ledger's leader lock on a real PostgreSQL: one holder at a time, kept while its
session lives, taken over by the next ask once the holder's session ends (a process that
dies), and SQLite always leads."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pool.ledger import LedgerConfig
from pool.ledger.leader import LEADER_LOCK, Leadership
from tests.components.postgres import postgres_database

pytestmark = [pytest.mark.integration]

FEE = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def test_one_leader_and_the_next_takes_over() -> None:
    with postgres_database() as dsn:
        config = LedgerConfig(backend="postgres", dsn=dsn, fee_account=FEE)
        first, second, third = Leadership(config), Leadership(config), Leadership(config)
        try:
            assert first.check() and not second.check() and not third.check()
            assert first.check()  # kept
            # The leader's session ends as a killed process's would: killed server-side.
            with psycopg.connect(dsn, autocommit=True) as admin:
                pid = first._conn.info.backend_pid
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert not first.check()  # it notices and steps down
            winners = [second.check(), third.check()]
            assert winners.count(True) == 1
            with psycopg.connect(dsn, autocommit=True) as admin:
                held = admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND objid = %s AND granted",
                                     (LEADER_LOCK & 0xFFFFFFFF,)).fetchone()  # fmt: skip
            assert held == (1,)
        finally:
            for leadership in (first, second, third):
                leadership.close()


def test_closing_releases_at_once() -> None:
    with postgres_database() as dsn:
        config = LedgerConfig(backend="postgres", dsn=dsn, fee_account=FEE)
        first, second = Leadership(config), Leadership(config)
        try:
            assert first.check() and not second.check()
            first.close()
            assert second.check()
        finally:
            first.close()
            second.close()


def test_a_database_that_is_away_means_not_leading() -> None:
    config = LedgerConfig(backend="postgres", dsn="host=127.0.0.1 port=1 user=x dbname=x",
                          fee_account=FEE)  # fmt: skip
    leadership = Leadership(config, connect_timeout=2)
    assert leadership.check() is False


def test_sqlite_always_leads(tmp_path: Path) -> None:
    leadership = Leadership(LedgerConfig(path=tmp_path / "l.sqlite3", fee_account=FEE))
    assert leadership.check() is True
