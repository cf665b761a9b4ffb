"""Bans shared by every pool process and host through PostgreSQL: a `bans` table, and
LISTEN/NOTIFY so the others hear of a ban at once.

A process that bans an address (pool.stratum.server: too many bad requests) publishes
it: the row keeps the latest `until` (epoch seconds), and a NOTIFY on `surplus_bans`
carries "KEY UNTIL". Every process LISTENs on a connection of its own, on a thread of
its own, and hands each ban to the Stratum server's ban book (on the event loop); at
start it reads the bans still running, so a restarted process or a new host refuses the
same addresses. A database that is away costs nothing but the sharing: local bans go on.

What arrives is checked before it is believed (an address or an IPv6 /64, a finite
time, bounded); the payload is our own processes', but the table is writable by anyone
with the DSN.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "surplus_bans"
MAX_KEY = 64
RETRY_S = 5.0
OnBan = Callable[[str, float], None]  # (address key, until in epoch seconds)


def checked_ban(key: str, until: float) -> tuple[str, float] | None:
    """(key, until) when `key` is an address or an IPv6 network ("1.2.3.4",
    "2001:db8::/64") and `until` a finite time; None for anything else. Both sharing
    paths believe a ban only through this: PostgreSQL's notices and rows, and the SQLite
    ledger writer's messages (pool.ledger.wire)."""
    if len(key) > MAX_KEY or not math.isfinite(until):
        return None
    try:
        ipaddress.ip_network(key, strict=True)
    except ValueError:
        return None
    return key, until


def parse_ban(payload: str) -> tuple[str, float] | None:
    """"KEY UNTIL" -> (key, until); None for anything else."""
    if len(payload) > MAX_KEY + 40:
        return None
    key, _, until_text = payload.partition(" ")
    try:
        until = float(until_text)
    except ValueError:
        return None
    return checked_ban(key, until)


class SharedBans:
    def __init__(self, dsn: str, on_ban: OnBan, node: str,
                 loop: asyncio.AbstractEventLoop) -> None:  # fmt: skip
        """`on_ban` runs on `loop` for every ban of the cluster (this process's too)."""
        self.dsn = dsn
        self.on_ban = on_ban
        self.node = node[:MAX_KEY]
        self.loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bans-publish")
        self._publish_conn: Any = None
        self.listening = threading.Event()  # LISTEN is in place (tests wait for it)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="bans-listen", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ publishing

    def publish(self, key: str, seconds: float, reason: str) -> None:
        """A ban this process made: to the table and every other process (never blocks)."""
        if seconds <= 0 or parse_ban(f"{key} 0") is None:
            return
        until = time.time() + seconds
        self._writer.submit(self._write, key, until, reason[:200])

    def _write(self, key: str, until: float, reason: str) -> None:
        import psycopg

        try:
            if self._publish_conn is None or self._publish_conn.closed:
                self._publish_conn = psycopg.connect(self.dsn, autocommit=True,
                                                     connect_timeout=10)  # fmt: skip
            conn = self._publish_conn
            conn.execute(
                "INSERT INTO bans (key, until, reason, node) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET until = GREATEST(bans.until, EXCLUDED.until), "
                "reason = EXCLUDED.reason, node = EXCLUDED.node", (key, until, reason, self.node))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{key} {until!r}"))
        except psycopg.Error as exc:
            log.warning("cannot share the ban of %s with the cluster: %s", key, str(exc)[:200])
            with contextlib.suppress(Exception):
                if self._publish_conn is not None:
                    self._publish_conn.close()
            self._publish_conn = None

    # ------------------------------------------------------------------ listening

    def _deliver(self, key: str, until: float) -> None:
        if until > time.time():
            self.loop.call_soon_threadsafe(self.on_ban, key, until)

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    now = time.time()
                    for key, until in conn.execute(
                        "SELECT key, until FROM bans WHERE until > %s LIMIT 100000", (now,)
                    ).fetchall():
                        ban = parse_ban(f"{key} {until!r}")
                        if ban is not None:
                            self._deliver(*ban)
                    self.listening.set()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            ban = parse_ban(notify.payload)
                            if ban is None:
                                log.warning("ignoring a malformed ban notice %r",
                                            notify.payload[:100])  # fmt: skip
                                continue
                            self._deliver(*ban)
            except psycopg.Error as exc:
                self.listening.clear()
                if not self._stop.is_set():
                    log.warning("cluster bans: cannot listen (%s); retrying in %.0f s",
                                str(exc)[:200], RETRY_S)  # fmt: skip
                    self._stop.wait(RETRY_S)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._writer.shutdown(wait=True)
        if self._publish_conn is not None:
            with contextlib.suppress(Exception):
                self._publish_conn.close()
