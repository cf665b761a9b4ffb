"""PoolApp start-up against real nodes: every reason it cannot start is a named error
(the config key to fix), and a pool on bcoin with a ZMQ endpoint configured (bcoin has
none) still follows the chain through the poll and longpoll."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pool.app import PoolApp, PoolStartupError
from pool.bitcoin.address import address_to_script
from pool.node import CallRecord, RpcNode
from rigsim.miner import Miner
from tests.components.bcoin import BcoinNode, free_port
from tests.waiting import wait_for

from .support import pool_config

CORE_REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
TESTNET = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"


def rpc_config(url: str, address: str, **values: object) -> object:
    return pool_config(
        mode="solo", network=values.pop("network", "regtest"), payout_address=address,
        startup_timeout=values.pop("startup_timeout", 10),
        node={"urls": [url], "retry_rounds": 1, "poll_interval": 0.05,
              **values.pop("node", {})},  # type: ignore[dict-item]
        **values,
    )


async def test_node_down_is_a_named_startup_error() -> None:
    config = rpc_config(f"http://u:p@127.0.0.1:{free_port()}/", CORE_REGTEST, startup_timeout=1)
    with pytest.raises(PoolStartupError, match=r"node\.urls: no usable node after 1 s"):
        async with asyncio.timeout(60), PoolApp(config):  # type: ignore[arg-type]
            pass


@pytest.mark.integration
async def test_bcoin_start_up_errors_name_the_key(bcoin: BcoinNode) -> None:
    wrong_key = rpc_config(bcoin.url_with_key("not-the-key"), CORE_REGTEST)
    with pytest.raises(PoolStartupError, match=r"node\.urls: .*refused authentication"):
        async with PoolApp(wrong_key):  # type: ignore[arg-type]
            pass
    # Valid for regtest locally, but bcoin only takes its own prefixes (rb1, R, G).
    core_address = rpc_config(bcoin.rpc_url, CORE_REGTEST)
    with pytest.raises(PoolStartupError, match=rf"payout_address: .*{CORE_REGTEST}"):
        async with PoolApp(core_address):  # type: ignore[arg-type]
            pass
    wrong_network = rpc_config(bcoin.rpc_url, TESTNET, network="testnet")
    with pytest.raises(
        PoolStartupError, match="network: the config says 'testnet' but the node runs 'regtest'"
    ):
        async with PoolApp(wrong_network):  # type: ignore[arg-type]
            pass


@pytest.mark.integration
async def test_bcoin_with_a_silent_zmq_endpoint_still_follows_the_chain(
    bcoin: BcoinNode,
) -> None:
    address = await asyncio.to_thread(bcoin.new_address)
    config = rpc_config(
        bcoin.rpc_url, address, node={"zmq_hashblock": f"tcp://127.0.0.1:{free_port()}"}
    )
    async with PoolApp(config) as app:  # type: ignore[arg-type]
        assert app.watcher is not None and app.watcher.zmq_url
        start = await asyncio.to_thread(lambda: bcoin.height)
        # A block from elsewhere: the pool moves its miners to the new tip.
        await asyncio.to_thread(bcoin.mine, 1, address)
        await wait_for(lambda: app.stats.height == start + 2, 10, "the pool on the new tip")
        miner = Miner("127.0.0.1", app.stratum_port, f"{address}.z", hashrate=20)
        miner.start()
        try:
            await wait_for(lambda: app.stats.blocks_confirmed >= 2, 30, "two pool blocks")
        finally:
            await miner.stop()
        assert app.watcher.detected_by["zmq"] == 0
        assert app.watcher.detected_by["poll"] + app.watcher.detected_by["longpoll"] >= 1


@pytest.mark.integration
async def test_a_tip_the_longpoll_announces_is_mined_on_without_a_second_template(
    bcoin: BcoinNode,
) -> None:
    """The longpoll that wakes for a new tip brings that tip's template; the pool builds
    the miners' job from it, so the block costs one getblocktemplate round trip (the
    longpoll's), not a second one on the way to the miners."""
    address = await asyncio.to_thread(bcoin.new_address)
    config = rpc_config(bcoin.rpc_url, address, node={"poll_interval": 600})
    calls: list[CallRecord] = []

    def templates() -> int:
        return sum(c.method == "getblocktemplate" for c in calls)

    node = RpcNode(bcoin.rpc_url, name="lp", on_call=calls.append,
                   decode_address=lambda a: address_to_script(a, "regtest"))
    async with node, PoolApp(config, node=node) as app:  # type: ignore[arg-type]
        await wait_for(lambda: any(t.name.startswith("lp-longpoll")
                                   for t in threading.enumerate()),
                       10, "the longpoll in flight")  # fmt: skip
        start = await asyncio.to_thread(lambda: bcoin.height)
        before = templates()
        (tip,) = await asyncio.to_thread(bcoin.mine, 1, address)
        await wait_for(lambda: app.stats.height == start + 2, 10, "the pool on the new tip")
        assert app.feed is not None and app.feed.current is not None
        assert app.feed.current.prevhash == bytes.fromhex(tip)[::-1]
        assert app.watcher is not None and app.watcher.detected_by["longpoll"] == 1
        assert templates() - before == 1
