"""The Stratum server behind a real HAProxy running configs/haproxy.cfg (TCP mode,
send-proxy-v2, health checks with a PROXY header of their own): miners connect from
their own loopback addresses through HAProxy, and the server sees those addresses in
its sessions, its per-address cap and its bans; a PROXY header sent straight to the
pool by anyone but HAProxy is refused."""

from __future__ import annotations

import asyncio

import pytest

from tests.components.haproxy import HaproxyServer
from tests.waiting import wait_for

from .test_proxy_header import v2

pytestmark = [pytest.mark.integration]


async def test_miners_behind_haproxy_keep_their_addresses(make_server, connect) -> None:
    server = await make_server(proxy_protocol=True, proxy_networks=["127.0.0.1/32"],
                               max_connections_per_ip=2)  # fmt: skip
    proxy = await asyncio.to_thread(HaproxyServer([server.address]).start)
    try:
        class Through:  # connect() takes a server; HAProxy's address stands in for it
            address = ("127.0.0.1", proxy.port)

        miners = [await connect(Through, local_addr=(f"127.0.0.{5 + i}", 0)) for i in range(2)]
        for miner in miners:
            await miner.handshake()
        remotes = {s.remote for s in server.sessions if s.authorized}
        assert remotes == {"127.0.0.5", "127.0.0.6"}, remotes

        # The per-address cap counts the miner's address, not HAProxy's.
        second = await connect(Through, local_addr=("127.0.0.5", 0))
        await second.handshake()
        third = await connect(Through, local_addr=("127.0.0.5", 0))
        assert await third.closed(10)
        assert server.stats.refused_per_ip == 1

        # A ban is the miner's, and HAProxy's other miners keep mining.
        server.bans.ban("127.0.0.7")
        banned = await connect(Through, local_addr=("127.0.0.7", 0))
        assert await banned.closed(10)
        assert server.stats.refused_banned == 1
        fresh = await connect(Through, local_addr=("127.0.0.8", 0))
        await fresh.handshake()

        # Straight to the pool, a PROXY header from an untrusted address is refused.
        forger = await connect(server, local_addr=("127.0.0.9", 0))
        forger.client.transport.write(v2("203.0.113.1", "127.0.0.1", 1, 2))
        assert await forger.closed(5)
        await wait_for(lambda: server.stats.proxy_refused >= 1, 5)
        assert not any(s.remote == "203.0.113.1" for s in server.sessions)
        for miner in miners:
            assert not await miner.closed(0.05)
    finally:
        await asyncio.to_thread(proxy.stop)


async def test_haproxy_caps_one_address_across_the_cluster(make_server, connect) -> None:
    """The shipped config's stick table: one address holds at most the cap's connections
    whichever pool processes serve them; other addresses are not affected."""
    server = await make_server(proxy_protocol=True, proxy_networks=["127.0.0.1/32"])
    proxy = await asyncio.to_thread(HaproxyServer([server.address], per_address=3).start)
    try:
        class Through:
            address = ("127.0.0.1", proxy.port)

        held = [await connect(Through, local_addr=("127.0.0.21", 0)) for _ in range(3)]
        for miner in held:
            await miner.handshake()

        async def refused() -> bool:  # reset at once, or closed before any answer
            try:
                fourth = await connect(Through, local_addr=("127.0.0.21", 0))
            except ConnectionError:
                return True
            return await fourth.closed(10)

        assert await refused()
        other = await connect(Through, local_addr=("127.0.0.22", 0))
        await other.handshake()
        assert server.stats.refused_per_ip == 0  # HAProxy refused it; the pool never saw it
        held[0].client.close()
        await wait_for(lambda: sum(s.remote == "127.0.0.21" for s in server.sessions) == 2, 10)
        again = await connect(Through, local_addr=("127.0.0.21", 0))  # the closed one's room
        await again.handshake()
    finally:
        await asyncio.to_thread(proxy.stop)
