"""Who may hold a connection, and for how long (issue 12, finding 5): an authorize
deadline after subscribe, a deadline for a line once begun, a per-address cap with
trusted networks exempt, the fd soft limit raised at start, refusals logged once."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time

import pytest

from pool.stratum.bans import CLOSING_STRIKES, BanBook
from pool.stratum.limits import FD_RESERVE, LogThrottle, address_key, connection_budget
from rigsim.miner import Miner

from .pool_process import PoolProcess, devnet_config


async def test_subscribed_but_never_authorized_is_closed(make_server, connect):
    server = await make_server(authorize_timeout=0.3)
    idle = await connect(server)
    await idle.subscribe()
    working = await connect(server)
    await working.handshake()
    assert await idle.closed(5.0), "no authorize within the deadline: closed"
    assert not await working.closed(0.5), "an authorized miner stays"
    assert server.stats.unauthorized_closed == 1


async def test_a_line_sent_one_byte_at_a_time_is_closed(make_server, connect):
    server = await make_server(line_timeout=0.4)
    slow = await connect(server)
    await slow.handshake()
    line = b'{"id":7,"method":"mining.ping","params":[]}\n'
    closed = False
    for byte in line:  # 1 byte every 0.1 s: the line would take 4.5 s
        if slow.client.is_closed:
            closed = True
            break
        slow.client.send_raw(bytes([byte]))
        await asyncio.sleep(0.1)
    assert closed or await slow.closed(2.0), "a line unfinished past line_timeout closes"
    assert server.stats.line_timeouts == 1


async def test_lines_split_across_reads_are_not_penalised(make_server, connect):
    server = await make_server(line_timeout=3.0)  # far beyond the 0.2 s pauses, even loaded
    c = await connect(server)
    await c.handshake()
    replies: list[dict] = []
    c.client.on_response = replies.append
    for i in range(8):  # each line finished within the deadline, the next begun at once
        c.client.send_raw(b'{"id":%d,"method":"mining.ping","params":[]}\n{"id":' % i)
        await asyncio.sleep(0.2)
        c.client.send_raw(b'%d,"method":"mining.ping","params":[]}\n' % (100 + i))
    deadline = time.monotonic() + 3
    while len(replies) < 16 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(replies) == 16 and not c.client.is_closed
    assert server.stats.line_timeouts == 0


async def test_per_address_cap_with_trusted_networks_exempt(make_server, connect, caplog):
    server = await make_server(max_connections_per_ip=3, trusted_networks=["127.0.0.3/32"])
    with caplog.at_level(logging.WARNING, logger="pool.stratum.server"):
        mine = [await connect(server) for _ in range(3)]
        refused = [await connect(server) for _ in range(20)]
        for c in refused:
            assert await c.closed(), "over the cap from one address: refused"
    other = await connect(server, local_addr=("127.0.0.2", 0))
    await other.handshake()
    farm = [await connect(server, local_addr=("127.0.0.3", 0)) for _ in range(6)]
    for c in [*mine, other, *farm]:
        assert not await c.closed(0.05)
    assert server.stats.refused_per_ip == 20
    lines = [r.getMessage() for r in caplog.records if "refusing" in r.getMessage()]
    assert len(lines) == 1, lines  # logged once, not once per connection
    assert "max_connections_per_ip" in lines[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pool.stratum.server"):
        server.refusals.flush(time.monotonic() + 61)
    assert "19 more" in caplog.text and "per_address 19" in caplog.text


def test_log_throttle_summarises_by_reason() -> None:
    now = [0.0]
    logged: list[str] = []

    class Sink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logger = logging.getLogger("test.throttle")
    logger.addHandler(Sink())
    throttle = LogThrottle(logger, "refused", interval=10, clock=lambda: now[0])
    for _ in range(5):
        throttle.event("full", "first %s", "x")
    throttle.event("banned", "never shown")
    throttle.flush()
    assert logged == ["first x"]  # the summary waits for the interval
    now[0] = 11
    throttle.flush()
    assert logged[1] == "refused: 5 more in the last 10 s (banned 1, full 4)"
    now[0] = 30
    throttle.event("full", "again %d", 2)
    assert logged[-1] == "again 2"


def test_addresses_are_counted_by_ipv4_or_ipv6_slash_64() -> None:
    assert address_key("10.1.2.3") == "10.1.2.3"
    assert address_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")


def test_connection_budget_leaves_room_below_the_fd_limit() -> None:
    assert connection_budget(100_000, 20_000) == 20_000 - FD_RESERVE
    assert connection_budget(500, 20_000) == 500
    assert connection_budget(100, 50) == 1


async def test_fd_soft_limit_is_raised_to_the_hard_limit(make_server) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 1024:
        pytest.fail(f"this test needs a finite hard fd limit above 1024, got {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        server = await make_server()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
        assert server.max_connections == min(100_000, hard - FD_RESERVE)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1024), hard))


def _flood(port: int, count: int) -> list[socket.socket]:
    """`count` idle connections from 127.0.0.1 that subscribe and then say nothing."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b'{"id":1,"method":"mining.subscribe","params":[]}\n')
        socks.append(s)
    return socks


async def test_idle_flood_from_one_address_does_not_lock_out_a_miner(tmp_path) -> None:
    """The finding as reported: fd limit 1,000, idle connections from one address up to
    that limit (977 locked a miner out before); a real miner from another address still
    gets in, and the refusals are logged once."""
    with PoolProcess(tmp_path, devnet_config("solo"), nofile=1000) as pool:
        await asyncio.to_thread(pool.start)
        socks = await asyncio.to_thread(_flood, pool.port, 1000)
        try:
            miner = Miner("127.0.0.1", pool.port,
                          "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.real",
                          hashrate=20_000, local_host="127.0.0.9")
            miner.start()
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while miner.stats.accepted < 3:
                    assert loop.time() < deadline, (miner.stats, pool.log()[-2000:])
                    await asyncio.sleep(0.05)
            finally:
                await miner.stop()
        finally:
            for s in socks:
                s.close()
        log = pool.log()
        assert log.count("refusing 127.0.0.1") == 1, log[-3000:]
        assert "max_connections_per_ip" in log
        assert not pool.alarming(), pool.alarming()


def test_ban_scores_expire_and_stay_bounded() -> None:
    now = [0.0]
    book = BanBook(max_invalid=5, window=60, ban_seconds=600, clock=lambda: now[0],
                   max_addresses=100)
    assert [book.strike("10.0.0.1") for _ in range(5)] == [None] * 5
    assert book.strike("10.0.0.1") == 6  # the sixth crosses the limit
    book.ban("10.0.0.1")
    assert book.is_banned("10.0.0.1")
    assert book.strike("10.0.0.2", CLOSING_STRIKES) == CLOSING_STRIKES  # one closing = 10
    now[0] = 61
    assert book.strike("10.0.0.3", 5) is None
    now[0] = 122
    assert book.strike("10.0.0.3") is None, "a new window starts from zero"
    for i in range(1_000):  # a spray of addresses: the oldest scores are forgotten
        book.strike(f"10.1.{i // 256}.{i % 256}")
    assert len(book._scores) == 100
    now[0] = 700
    book.expire()
    assert not book.is_banned("10.0.0.1") and len(book) == 0
