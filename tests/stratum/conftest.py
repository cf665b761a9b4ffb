"""Fixtures for Stratum tests: real servers on loopback, scripted clients, real jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pool.jobs import JobFactory
from pool.stratum.jobfeed import JobFeed
from pool.stratum.server import StratumServer
from rigsim.miner import StratumClient

from .stratum_harness import POOL_SCRIPT, Scripted, publish, stratum_config


@pytest.fixture
def feed() -> JobFeed:
    feed = JobFeed(JobFactory(POOL_SCRIPT))
    publish(feed)
    return feed


@pytest.fixture
async def make_server(feed: JobFeed) -> AsyncIterator[Callable[..., Any]]:
    servers: list[StratumServer] = []

    async def make(*, jobs: Any = None, node: Any = None, sink: Any = None,
                   **overrides: Any) -> StratumServer:
        server = StratumServer(stratum_config(**overrides), jobs or feed, node, sink)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close(reconnect=False)


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    clients: list[StratumClient] = []

    async def connect(server: StratumServer, **kwargs: Any) -> Scripted:
        host, port = server.address
        scripted: Scripted
        client = await StratumClient.connect(host, port, lambda m, p: scripted.on_note(m, p),
                                             **kwargs)
        scripted = Scripted(client)
        clients.append(client)
        return scripted

    yield connect
    for client in clients:
        client.abort()


@pytest.fixture
def devnet_node():
    """The embedded devnet chain behind the Node contract (real block checks)."""
    from pool.node.devnet import DevnetNode

    node = DevnetNode(mempool_txs=3)
    return node, node.chain

