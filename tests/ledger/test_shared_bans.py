"""Bans shared through PostgreSQL (pool.ledger.bans): a ban published by one process
reaches another's book through LISTEN/NOTIFY, a process that starts later reads the
bans still running, and a notice that is not a ban is ignored."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from pool.ledger import LedgerConfig, open_store
from pool.ledger.bans import CHANNEL, SharedBans, parse_ban
from tests.components.postgres import postgres_database
from tests.waiting import wait_for

FEE = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def test_parse_ban() -> None:
    assert parse_ban("203.0.113.7 1700000000.5") == ("203.0.113.7", 1700000000.5)
    assert parse_ban("2001:db8::/64 5") == ("2001:db8::/64", 5.0)
    for bad in ("203.0.113.7", "x 5", "203.0.113.7 nan", "203.0.113.7 inf",
                "2001:db8::1/64 5", "1.2.3.4 " + "9" * 400, ""):
        assert parse_ban(bad) is None, bad


@pytest.mark.integration
async def test_a_ban_reaches_the_other_processes() -> None:
    loop = asyncio.get_running_loop()
    with postgres_database() as dsn:
        open_store(LedgerConfig(backend="postgres", dsn=dsn, fee_account=FEE)).close()
        heard: dict[str, list[tuple[str, float]]] = {"a": [], "b": [], "c": []}
        a = SharedBans(dsn, lambda k, u: heard["a"].append((k, u)), "a", loop)
        b = SharedBans(dsn, lambda k, u: heard["b"].append((k, u)), "b", loop)
        c: SharedBans | None = None
        try:
            a.start()
            b.start()
            await wait_for(lambda: a.listening.is_set() and b.listening.is_set(), 10)
            a.publish("203.0.113.7", 600, "too many bad requests")
            await wait_for(lambda: heard["b"], 10, "the ban at the other process")
            key, until = heard["b"][0]
            assert key == "203.0.113.7" and 590 < until - time.time() <= 600
            with psycopg.connect(dsn, autocommit=True) as conn:  # not a ban: ignored
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "<script> 1"))
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "198.51.100.1 1"))  # over
            a.publish("2001:db8::/64", 60, "x")
            await wait_for(lambda: len(heard["b"]) == 2, 10)
            assert heard["b"][1][0] == "2001:db8::/64"
            # A process that starts now refuses the same addresses.
            c = SharedBans(dsn, lambda k, u: heard["c"].append((k, u)), "c", loop)
            c.start()
            await wait_for(lambda: len(heard["c"]) == 2, 10, "the running bans read at start")
            assert {k for k, _ in heard["c"]} == {"203.0.113.7", "2001:db8::/64"}
        finally:
            for shared in (a, b, c):
                if shared is not None:
                    await asyncio.to_thread(shared.close)
