"""Stratum behind a PROXY-protocol load balancer, over real loopback TCP: the proxy is a
client from 127.0.0.2 (in proxy_networks), a direct miner one from 127.0.0.1. The header
names the miner; the per-address cap and bans count the named address; a header from
anyone else, a missing or malformed one closes the connection, counted and logged."""

from __future__ import annotations

import logging

import pytest

from tests.waiting import wait_for

from .test_proxy_header import STRATUM, v2

PROXY = "127.0.0.2"
PROXIED = {"proxy_protocol": True, "proxy_networks": [f"{PROXY}/32"]}


async def through_proxy(connect, server, header: bytes):  # type: ignore[no-untyped-def]
    c = await connect(server, local_addr=(PROXY, 0))
    c.client.transport.write(header)
    return c


def session_from(server, remote: str):  # type: ignore[no-untyped-def]
    return next((s for s in server.sessions if s.remote == remote), None)


@pytest.mark.parametrize("header", [
    v2("203.0.113.7", "127.0.0.1", 40000, 3333),
    b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 3333\r\n",
    v2("2001:db8::7", "2001:db8::1", 40000, 3333),
])  # fmt: skip
async def test_the_header_names_the_miner(make_server, connect, header: bytes) -> None:
    server = await make_server(**PROXIED)
    c = await through_proxy(connect, server, header)
    await c.handshake()
    remote = "2001:db8::7" if b"2001" in header or header[13] == 0x21 else "203.0.113.7"
    session = session_from(server, remote)
    assert session is not None, [s.remote for s in server.sessions]
    assert session.ip_key == (remote if ":" not in remote else "2001:db8::/64")


async def test_a_direct_miner_still_mines(make_server, connect) -> None:
    server = await make_server(**PROXIED)
    c = await connect(server)
    await c.handshake()
    assert session_from(server, "127.0.0.1") is not None


async def test_header_split_across_reads_and_followed_by_stratum(make_server, connect) -> None:
    server = await make_server(**PROXIED)
    header = v2("198.51.100.9", "127.0.0.1", 1, 2)
    c = await connect(server, local_addr=(PROXY, 0))
    c.client.transport.write(header[:5])
    await wait_for(lambda: len(server.sessions) == 0, 2)  # not admitted before the header
    c.client.transport.write(header[5:] + STRATUM)
    await wait_for(lambda: session_from(server, "198.51.100.9") is not None, 5)


@pytest.mark.parametrize(("source", "data", "why"), [
    ("proxy", STRATUM, "does not start with one"),
    ("proxy", b"\r\n\r\n\x00\r\nQUIX\n" + bytes(20), "signature"),
    ("proxy", b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "not TCP4"),
    ("direct", v2("203.0.113.66", "127.0.0.1", 1, 2), "not in stratum.proxy_networks"),
    ("direct", b"PROXY TCP4 203.0.113.66 127.0.0.1 1 2\r\n", "not in stratum.proxy_networks"),
])  # fmt: skip
async def test_refused_headers_close_and_are_logged(
    make_server, connect, caplog: pytest.LogCaptureFixture, source: str, data: bytes, why: str
) -> None:
    server = await make_server(**PROXIED)
    c = await connect(server, local_addr=(PROXY if source == "proxy" else "127.0.0.1", 0))
    with caplog.at_level(logging.INFO, logger="pool.stratum.server"):
        c.client.transport.write(data)
        assert await c.closed(5)
    assert server.stats.proxy_refused == 1
    assert not any(s.remote == "203.0.113.66" for s in server.sessions)
    lines = [r.getMessage() for r in caplog.records if "closing" in r.getMessage()]
    assert any(why in line for line in lines), lines
    assert all(len(line) < 400 for line in lines)


async def test_no_header_in_time_closes(make_server, connect) -> None:
    server = await make_server(line_timeout=0.2, **PROXIED)
    c = await connect(server, local_addr=(PROXY, 0))
    assert await c.closed(5)
    assert server.stats.proxy_refused == 1


async def test_cap_and_bans_count_the_named_address(make_server, connect) -> None:
    server = await make_server(max_connections_per_ip=1, **PROXIED)
    first = await through_proxy(connect, server, v2("203.0.113.1", "127.0.0.1", 1, 2) + STRATUM)
    await wait_for(lambda: session_from(server, "203.0.113.1") is not None, 5)
    second = await through_proxy(connect, server, v2("203.0.113.1", "127.0.0.1", 3, 2))
    assert await second.closed(5)  # the same miner's second connection: over its cap
    assert server.stats.refused_per_ip == 1
    other = await through_proxy(connect, server, v2("203.0.113.2", "127.0.0.1", 1, 2) + STRATUM)
    await wait_for(lambda: session_from(server, "203.0.113.2") is not None, 5)
    server.bans.ban("203.0.113.3")
    banned = await through_proxy(connect, server, v2("203.0.113.3", "127.0.0.1", 1, 2))
    assert await banned.closed(5)
    assert server.stats.refused_banned == 1
    assert not await first.closed(0.05) and not await other.closed(0.05)


def test_proxy_protocol_needs_its_networks() -> None:
    from pool.stratum.config import StratumConfig

    with pytest.raises(ValueError, match="needs proxy_networks"):
        StratumConfig(proxy_protocol=True)
