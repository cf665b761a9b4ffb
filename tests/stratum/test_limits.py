"""Each connection limit of the server, over real loopback TCP."""

from __future__ import annotations

import asyncio
import socket
import time

from pool.protocol import ErrorCode
from rigsim.miner import Miner

from .stratum_harness import publish


async def test_line_longer_than_the_limit_closes(make_server, connect):
    server = await make_server(max_line_bytes=1024)
    c = await connect(server)
    c.client.send_raw(b'{"id":1,"method":"mining.ping","params":["' + b"a" * 2000)
    assert await c.closed(), "a line over the limit must close the connection"
    assert server.stats.protocol_errors == 1


async def test_long_line_with_newline_closes_too(make_server, connect):
    server = await make_server(max_line_bytes=1024)
    c = await connect(server)
    c.client.send_raw(b'{"id":1,"method":"mining.ping","params":["' + b"a" * 2000 + b'"]}\n')
    assert await c.closed()


async def test_line_just_under_the_limit_is_served(make_server, connect):
    server = await make_server(max_line_bytes=1024)
    c = await connect(server)
    line = b'{"id":1,"method":"mining.ping","params":["'
    line += b"a" * (1024 - len(line) - 3) + b'"]}'
    assert len(line) == 1024
    replies = []
    c.client.on_response = replies.append
    c.client.send_raw(line[:500])
    await asyncio.sleep(0.05)
    c.client.send_raw(line[500:] + b"\n")
    for _ in range(50):
        if replies:
            break
        await asyncio.sleep(0.02)
    assert replies and replies[0]["result"] == "pong"


async def test_invalid_json_closes_with_an_error(make_server, connect):
    server = await make_server()
    c = await connect(server)
    replies = []
    c.client.on_response = replies.append
    c.client.send_raw(b'{"id": 1, "method": "mining.subscribe", params: []}\n')
    assert await c.closed()
    assert replies and replies[0]["error"][0] == ErrorCode.OTHER
    assert "not valid JSON" in replies[0]["error"][1]


async def test_max_connections(make_server, connect):
    server = await make_server(max_connections=2)
    a = await connect(server)
    b = await connect(server)
    c = await connect(server)
    assert await c.closed(), "the third connection must be refused"
    assert not await a.closed(0.1) and not await b.closed(0.1)
    assert server.stats.refused_full == 1
    assert len(server.sessions) == 2


async def test_idle_before_subscribe_is_closed(make_server, connect):
    server = await make_server(subscribe_timeout=0.2)
    idle = await connect(server)
    busy = await connect(server)
    await busy.subscribe()
    assert await idle.closed(5.0)
    assert not await busy.closed(0.3), "a subscribed miner is not idle"
    assert server.stats.idle_closed == 1


async def test_invalid_share_flood_bans_the_address(make_server, connect):
    server = await make_server(ban={"max_invalid": 5, "window": 60, "ban_seconds": 60})
    c = await connect(server)
    job = await c.handshake()
    for i in range(5):
        msg = await c.call("mining.submit",
                           ["alice.rig1", job.job_id, "00" * 8, f"{job.ntime:08x}", "zz"])
        assert msg["error"][0] == ErrorCode.OTHER, i
    c.client.send(  # the sixth crosses the limit
        "mining.submit", ["alice.rig1", job.job_id, "00" * 8, f"{job.ntime:08x}", "zz"]
    )
    assert await c.closed()
    assert server.stats.bans == 1
    again = await connect(server)
    assert await again.closed(), "a banned address is refused on reconnect"
    assert server.stats.refused_banned == 1


async def test_stale_shares_do_not_count_toward_a_ban(make_server, connect, feed):
    server = await make_server(ban={"max_invalid": 2, "window": 60, "ban_seconds": 60})
    c = await connect(server)
    from .stratum_harness import find_nonce, submit_params

    old = await c.handshake()
    publish(feed, prev="33" * 32, height=400)
    await c.next_note("mining.notify")
    for i in range(4):
        en2 = (i + 1).to_bytes(8, "big")
        nonce = find_nonce(old, en2, difficulty=c.difficulty)
        msg = await c.call("mining.submit", submit_params("alice.rig1", old, en2, nonce))
        assert msg["error"][1] == "Stale job"
    assert not await c.closed(0.1)
    assert server.stats.bans == 0


async def test_client_that_stops_reading_is_dropped_server_keeps_serving(make_server, connect):
    server = await make_server(write_buffer_limit=16 * 1024)
    host, port = server.address
    # A raw socket with a tiny receive buffer that never reads.
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stuck, (host, port))
    await loop.sock_sendall(stuck, b'{"id":1,"method":"mining.subscribe","params":[]}\n')
    healthy = await connect(server)
    await healthy.subscribe()
    payload = "x" * 60_000
    dropped = False
    for _ in range(400):
        server.broadcast_message(payload)
        # the healthy client drains and is answered throughout
        assert (await healthy.call("mining.ping", []))["result"] == "pong"
        if server.stats.dropped_slow:
            dropped = True
            break
    stuck.close()
    assert dropped, "a client that never reads must be dropped"
    assert len(server.sessions) == 1
    assert not await healthy.closed(0.1)


async def test_shutdown_sends_client_reconnect(make_server, connect):
    server = await make_server()
    c = await connect(server)
    await c.handshake()
    await server.close()
    params = await c.next_note("client.reconnect")
    assert params == []
    assert await c.closed()
    # and nobody new gets in while draining
    try:
        late = await connect(server)
    except OSError:
        return
    assert await late.closed()


async def test_miner_reconnects_after_drain(make_server, feed):
    from pool.stratum.server import StratumServer

    from .stratum_harness import stratum_config

    server = await make_server()
    host, port = server.address
    miner = Miner(host, port, "carol.rig", hashrate=5_000, reconnect_delay=0.05)
    miner.start()
    replacement = None
    try:
        await asyncio.wait_for(miner.connected.wait(), 5)
        await server.close()
        # a new server on the same port, as after a restart
        replacement = StratumServer(stratum_config(port=port), feed)
        await replacement.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if miner.stats.reconnects >= 1 and miner.connected.is_set() and replacement.sessions:
                break
            await asyncio.sleep(0.02)
        assert miner.stats.reconnects >= 1, miner.stats
        assert miner.connected.is_set()
        assert len(replacement.sessions) == 1
    finally:
        await miner.stop()
        if replacement is not None:
            await replacement.close(reconnect=False)
