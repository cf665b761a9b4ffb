"""Fan-out of a new job to many connections through the parallel writers."""

from __future__ import annotations

import asyncio
import socket
import time

from rigsim.miner import StratumClient

from .stratum_harness import Scripted, publish


async def _scripted(server, *, rcvbuf: int | None = None) -> Scripted:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, server.address)
    scripted: Scripted
    _, client = await loop.create_connection(
        lambda: StratumClient(lambda m, p: scripted.on_note(m, p)), sock=sock
    )
    scripted = Scripted(client)
    return scripted


async def test_new_job_reaches_every_connection_in_order(make_server, feed):
    server = await make_server(fanout_threads=3, write_buffer_limit=4 << 20,
                               max_connections_per_ip=400)  # 301 miners on 127.0.0.1
    clients = [await _scripted(server) for _ in range(300)]
    await asyncio.gather(*(c.handshake(f"w.{i}") for i, c in enumerate(clients)))
    slow = await _scripted(server, rcvbuf=4096)
    await slow.handshake("w.slow")
    slow.client.transport.pause_reading()
    big = "y" * 300_000
    session = next(s for s in server.sessions if "w.slow" in (s.workers or ()))
    for _ in range(40):  # fill the kernel buffers until the transport has to queue
        session.show_message(big)
        await asyncio.sleep(0.01)
        if session.transport.get_write_buffer_size():
            break
    assert session.transport.get_write_buffer_size() > 0
    job = publish(feed, prev="55" * 32, height=900)
    assert server.stats.last_fanout_sessions == 301
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(c.last_job is not None and c.last_job.job_id == job.job_id for c in clients):
            break
        await asyncio.sleep(0.02)
    assert all(c.last_job.job_id == job.job_id for c in clients)
    assert all(c.last_job.clean for c in clients)
    # the slow one gets the queued message first, then the job: order kept
    slow.client.transport.resume_reading()
    await slow.next_note("client.show_message", timeout=5)
    params = await slow.next_note("mining.notify", timeout=5)
    assert params[0] == job.job_id
    methods = [m for m, _ in slow.notes]
    assert methods.index("client.show_message") < len(methods) - 1
    for c in [*clients, slow]:
        c.client.abort()
