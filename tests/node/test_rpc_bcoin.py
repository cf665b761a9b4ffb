"""The RPC client against a real bcoin: failover, auth, warm-up, outages, threads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from pool.node import (
    CallRecord,
    InvalidAddress,
    NodeAuthError,
    NodeDown,
    NodeRPCError,
    NodeWarmingUp,
    RetryPolicy,
    RpcNode,
    WalletClient,
)
from pool.node.retry import Health
from tests.components.bcoin import BcoinNode, free_port
from tests.waiting import wait_for

from .blocks import base58check_decode
from .rpcproxy import FaultProxy

pytestmark = pytest.mark.integration

FAST = RetryPolicy(rounds=3, base_delay=0.02, max_delay=0.1)


def dead_url() -> str:
    return f"http://bcoin:key@127.0.0.1:{free_port()}/"  # closed loopback port


@pytest.fixture
async def node(bcoin: BcoinNode) -> AsyncIterator[RpcNode]:
    async with RpcNode(bcoin.rpc_url) as n:
        yield n


@pytest.fixture
def proxy(bcoin: BcoinNode) -> Iterator[FaultProxy]:
    p = FaultProxy(bcoin.rpc_port, bcoin.api_key).start()
    yield p
    p.stop()


async def test_chain_queries_agree(bcoin: BcoinNode, node: RpcNode) -> None:
    mined = await asyncio.to_thread(bcoin.mine, 2)
    count = await node.getblockcount()
    best = await node.getbestblockhash()
    assert best == mined[-1]
    assert await node.getblockhash(count) == best
    info = await node.getblock(best)
    assert info["hash"] == best and info["height"] == count
    assert info["previousblockhash"] == mined[0]
    assert isinstance(info["tx"], list) and isinstance(info["tx"][0], str)
    raw = await node.getrawblock(best)
    assert bytes.fromhex(raw)[4:36][::-1].hex() == mined[0]
    with pytest.raises(NodeRPCError) as err:
        await node.getblockhash(count + 1000)
    assert err.value.code == -8 and "getblockhash" in str(err.value)


async def test_failover_from_a_dead_url_to_a_live_one(
    bcoin: BcoinNode, caplog: pytest.LogCaptureFixture
) -> None:
    dead = dead_url()
    records: list[CallRecord] = []
    caplog.set_level(logging.INFO, "pool.node")
    async with RpcNode([dead, bcoin.rpc_url], retry=FAST, on_call=records.append) as n:
        assert await n.getblockcount() == bcoin.height
        dead_label = n.endpoints[0]
        assert n.health(dead_label) is Health.DOWN
        assert n.health(n.endpoints[1]) is Health.UP
        assert f"{dead_label} is down: connection refused" in caplog.text
        assert [(r.endpoint == dead_label, r.ok) for r in records] == [(True, False), (False, True)]
        records.clear()
        await n.getblockcount()  # the dead URL now cools down behind the live one
        assert [r.endpoint for r in records] == [n.endpoints[1]]
    assert caplog.text.count("is down") == 1  # logged once, not per call


async def test_all_urls_dead_gives_node_down_naming_each(caplog: pytest.LogCaptureFixture) -> None:
    a, b = dead_url(), dead_url()
    records: list[CallRecord] = []
    async with RpcNode([a, b], retry=FAST, on_call=records.append) as n:
        with pytest.raises(NodeDown) as err:
            await n.getbestblockhash()
        # gives up after its rounds over both URLs (the policy bounds the time), no more
        assert len(records) == FAST.rounds * 2 and not any(r.ok for r in records)
        for label in n.endpoints:
            assert label in str(err.value)
        assert "connection refused" in str(err.value)


async def test_wrong_api_key_gives_auth_error_without_retrying(
    bcoin: BcoinNode, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[CallRecord] = []
    async with RpcNode(bcoin.url_with_key("wrong"), on_call=records.append) as n:
        with pytest.raises(NodeAuthError) as err:
            await n.getblockcount()
    message = str(err.value)
    assert "refused authentication (HTTP 401)" in message and "API key" in message
    assert "wrong" not in message
    assert len(records) == 1 and records[0].error == "NodeAuthError"
    assert "refused authentication" in caplog.text


async def test_warming_up_node_is_waited_for(
    bcoin: BcoinNode, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pool.node")
    proxy.warmup_remaining = 3
    async with RpcNode(proxy.url, retry=RetryPolicy(rounds=6, base_delay=0.02)) as n:
        assert await n.getblockcount() == bcoin.height
        assert proxy.requests.count("getblockcount") == 4
        assert "is warming up: Loading block index..." in caplog.text
        assert "is up again (was warming up)" in caplog.text
        proxy.warmup_remaining = 1000
        with pytest.raises(NodeWarmingUp, match="Loading block index"):
            await n.getblockcount()


async def test_node_that_comes_up_while_retrying(bcoin: BcoinNode) -> None:
    port = free_port()
    late = FaultProxy(bcoin.rpc_port, bcoin.api_key, port=port)
    policy = RetryPolicy(rounds=20, base_delay=0.05, max_delay=0.1)
    records: list[CallRecord] = []
    async with RpcNode(late.url, retry=policy, on_call=records.append) as n:
        call = asyncio.create_task(n.getblockcount())
        await wait_for(lambda: len(records) >= 3, 10, "three refused attempts")
        assert not call.done()
        late.start()
        try:
            assert await asyncio.wait_for(call, 5) == bcoin.height
        finally:
            late.stop()


async def test_address_script_from_validateaddress(bcoin: BcoinNode, node: RpcNode) -> None:
    legacy = await asyncio.to_thread(bcoin.wallet_address)
    version, h160 = base58check_decode(legacy)
    assert version == 0x3C  # bcoin regtest "R..."
    assert await node.address_script(legacy) == b"\x76\xa9\x14" + h160 + b"\x88\xac"
    segwit = await asyncio.to_thread(bcoin.new_address, "segwit")
    script = await node.address_script(segwit)
    assert segwit.startswith("rb1q") and script[:2] == b"\x00\x14" and len(script) == 22
    with pytest.raises(InvalidAddress, match="bcrt1q"):
        await node.address_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")


async def test_address_script_falls_back_to_the_local_decoder(
    bcoin: BcoinNode, proxy: FaultProxy
) -> None:
    proxy.hidden_methods.add("validateaddress")
    legacy = await asyncio.to_thread(bcoin.wallet_address)
    seen: list[str] = []

    def decode(address: str) -> bytes:
        seen.append(address)
        _, h160 = base58check_decode(address)
        return b"\x76\xa9\x14" + h160 + b"\x88\xac"

    async with RpcNode(proxy.url, decode_address=decode) as n:
        script = await n.address_script(legacy)
    assert seen == [legacy] and script.startswith(b"\x76\xa9\x14")
    async with RpcNode(proxy.url) as n:
        with pytest.raises(InvalidAddress, match="no local decoder"):
            await n.address_script(legacy)


async def test_concurrent_calls_use_a_bounded_set_of_threads(bcoin: BcoinNode) -> None:
    names: set[str] = set()
    records: list[CallRecord] = []

    def observe(record: CallRecord) -> None:
        records.append(record)
        names.add(threading.current_thread().name)

    async with RpcNode(bcoin.rpc_url, workers=3, on_call=observe, name="conc") as n:
        counts = await asyncio.gather(*(n.getblockcount() for _ in range(60)))
    assert len(set(counts)) == 1 and counts[0] == bcoin.height
    assert len(records) == 60 and all(r.ok and r.seconds > 0 for r in records)
    assert {r.method for r in records} == {"getblockcount"}
    assert names == {threading.main_thread().name}  # the hook runs on the loop thread


def longpolling(name: str) -> Callable[[], bool]:
    """Whether the node named `name` has a longpoll in flight (its thread exists)."""
    return lambda: any(t.name.startswith(f"{name}-longpoll") for t in threading.enumerate())


async def test_longpoll_does_not_block_the_loop_and_cancels_cleanly(bcoin: BcoinNode) -> None:
    async with RpcNode(bcoin.rpc_url, name="lpcancel") as n:
        tpl = await n.getblocktemplate()
        poll = asyncio.create_task(n.getblocktemplate(tpl["longpollid"]))
        await wait_for(longpolling("lpcancel"), 10, "the longpoll in its thread")
        for _ in range(40):  # the loop keeps turning: a blocked one would stall here
            await asyncio.sleep(0)
        assert not poll.done()  # still waiting for a block
        assert await n.getblockcount() == bcoin.height  # ordinary calls still flow
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
    deadline = time.monotonic() + 2
    while any(t.name.startswith("lpcancel-longpoll") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the longpoll thread was not released"
        await asyncio.sleep(0.02)


async def test_longpoll_returns_the_next_template_on_a_new_block(bcoin: BcoinNode) -> None:
    async with RpcNode(bcoin.rpc_url, name="lpnext") as n:
        tpl = await n.getblocktemplate()
        poll = asyncio.create_task(n.getblocktemplate(tpl["longpollid"]))
        await wait_for(longpolling("lpnext"), 10, "the longpoll in its thread")
        (mined,) = await asyncio.to_thread(bcoin.mine, 1)
        new = await asyncio.wait_for(poll, 5)
    assert new["previousblockhash"] == mined and new["height"] == tpl["height"] + 1


async def test_wallet_fills_the_mempool_with_real_transactions(bcoin: BcoinNode) -> None:
    await asyncio.to_thread(bcoin.fund_wallet)
    async with (
        WalletClient(bcoin.wallet_url) as wallet,
        RpcNode(bcoin.rpc_url) as n,
    ):
        assert await wallet.balance() > 0
        a = await wallet.new_address()
        b = await wallet.new_address()
        assert a.startswith("R") and a != b
        one = await wallet.send_to_address(a, 1_500_000)
        many = await wallet.send_many({a: 100_000, b: 200_000})
        await asyncio.to_thread(bcoin.wait_mempool, [one, many])
        assert {one, many} <= set(await n.call("getrawmempool"))
        listed = {tx["txid"] for tx in await wallet.list_transactions(count=100_000)}
        assert {one, many} <= listed
        with pytest.raises(NodeRPCError):
            await wallet.send_to_address("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", 1000)
        with pytest.raises(ValueError, match="positive"):
            await wallet.send_to_address(a, 0)
    wrong = bcoin.wallet_url.replace(bcoin.api_key, "wrong")
    async with WalletClient(wrong) as bad:
        with pytest.raises(NodeAuthError):
            await bad.balance()
        with pytest.raises(NodeAuthError):
            await bad.new_address()


async def test_longpoll_timeout_returns_a_fresh_template(bcoin: BcoinNode) -> None:
    async with RpcNode(bcoin.rpc_url, longpoll_timeout=0.3) as n:
        tpl = await n.getblocktemplate()
        start = time.monotonic()
        again = await n.getblocktemplate(tpl["longpollid"])
        waited = time.monotonic() - start
    assert waited > 0.25  # it waited its timeout (how much longer depends on the machine)
    assert again["previousblockhash"] == tpl["previousblockhash"]
