"""What one connection can make the pool hold (issue 12, findings 6 and 7): a capped
number of worker names, and in solo mode no unread input queued while an address check
is pending (the socket is not read until it answers)."""

from __future__ import annotations

import asyncio
import time

from pool.node.devnet import DevnetNode
from pool.protocol import ErrorCode

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


async def test_one_connection_authorizes_at_most_the_worker_cap(make_server, connect):
    server = await make_server(max_workers_per_connection=8, ban={"enabled": False})
    c = await connect(server)
    await c.subscribe()
    for i in range(8):
        assert (await c.call("mining.authorize", [f"alice.rig{i}", "x"]))["result"] is True
    for i in range(8, 40):
        msg = await c.call("mining.authorize", [f"alice.rig{i}", "x"])
        assert msg["error"][0] == ErrorCode.UNAUTHORIZED and "at most 8" in msg["error"][1]
    # a name already authorized is still fine, and the connection keeps working
    assert (await c.call("mining.authorize", ["alice.rig3", "x"]))["result"] is True
    session = next(iter(server.sessions))
    assert len(session.workers) == 8
    assert server.authorized_names == 8 and len(server.worker_connections) == 8
    c.client.abort()
    deadline = time.monotonic() + 3
    while server.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert server.authorized_names == 0
    assert not server.worker_connections and not server.worker_session


async def test_the_default_cap_is_256(make_server, connect):
    server = await make_server(ban={"enabled": False})
    c = await connect(server)
    await c.subscribe()
    for i in range(256):
        c.client.send("mining.authorize", [f"bob.r{i}", "x"])
    msg = await c.call("mining.authorize", ["bob.one-too-many", "x"])
    assert msg["error"][0] == ErrorCode.UNAUTHORIZED
    assert len(next(iter(server.sessions)).workers) == 256


class GatedDevnet(DevnetNode):
    """The devnet chain with its address check held until the test opens the gate (a
    slow validateaddress on a real node)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()

    async def address_script(self, address: str) -> bytes:
        self.asked.set()
        await self.gate.wait()
        return await super().address_script(address)


async def test_solo_stops_reading_while_the_address_check_is_pending(make_server, connect):
    node = GatedDevnet()
    server = await make_server(mode="solo", node=node)
    c = await connect(server)
    await c.subscribe()
    c.client.send("mining.authorize", [f"{ADDRESS}.rig", "x"], req_id="auth")
    await asyncio.wait_for(node.asked.wait(), 3)
    session = next(iter(server.sessions))
    filler = "x" * 8000
    lines = 4000  # 32 MB of valid requests while the check is pending
    pongs: list[dict] = []
    c.client.on_response = pongs.append
    for i in range(lines):
        c.client.send("mining.ping", [filler], req_id=i)

    def held() -> int:
        return sum(len(line) for line in session._backlog or ())

    def unsent() -> int:
        return c.client.transport.get_write_buffer_size()

    # wait until the client's queue stops moving: the pool has read all it is going to
    deadline, last, still = time.monotonic() + 15, -1, 0
    while still < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        still, last = (still + 1, last) if unsent() == last else (0, unsent())
    assert unsent() > 8 << 20, f"the pool kept reading ({held()} bytes queued in it)"
    assert held() <= 512 * 1024, f"{held()} bytes queued in the pool"
    node.gate.set()
    deadline = time.monotonic() + 60
    while len(pongs) < lines + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(pongs) == lines + 1, "every line is answered once the check is done"
    assert pongs[0]["id"] == "auth" and pongs[0]["result"] is True
    assert [p["id"] for p in pongs[1:]] == list(range(lines))
