"""rigsim's Stratum miner against a real server: pacing, pause, rate changes."""

from __future__ import annotations

import asyncio

from rigsim.miner import Miner
from tests.waiting import wait_for

from .stratum_harness import never_faster_than, publish


async def test_hash_rate_pause_and_rate_change(make_server):
    server = await make_server()
    host, port = server.address
    miner = Miner(host, port, "erin.rig", hashrate=40_000, slice_seconds=0.05)
    miner.start()
    try:
        await asyncio.wait_for(miner.connected.wait(), 5)
        await never_faster_than(miner, 40_000, 20_000)
        miner.pause()
        await wait_for(lambda: miner.idle, 10, "the paused rig's last slice and shares")
        h1 = miner.stats.hashes
        await asyncio.sleep(0.3)  # an observation window for "nothing happens", no sync
        assert miner.stats.hashes == h1, "a paused rig hashes nothing"
        miner.resume()
        miner.hashrate = 10_000
        await never_faster_than(miner, 10_000, 5_000)
        await wait_for(lambda: miner.stats.accepted > 0, 30, "an accepted share")
        assert not miner.stats.rejected
    finally:
        await miner.stop()


async def test_set_extranonce_applies_from_the_next_job(make_server, feed):
    server = await make_server()
    host, port = server.address
    miner = Miner(host, port, "erin.rig", hashrate=40_000)
    miner.start()
    try:
        await asyncio.wait_for(miner.connected.wait(), 5)
        while miner.stats.accepted < 2:
            await asyncio.sleep(0.02)
        session = next(iter(server.sessions))
        old = session.extranonce1
        new = server.reassign_extranonce1(session)
        assert new != old
        for _ in range(20):  # shares for the job already sent still use the old one
            await asyncio.sleep(0.02)
        assert miner.extranonce1 == new
        before = miner.stats.accepted
        publish(feed, clean=False)
        for _ in range(200):
            if miner.stats.accepted >= before + 3:
                break
            await asyncio.sleep(0.02)
        assert miner.job is not None and miner.job.extranonce1 == new
        assert miner.stats.accepted >= before + 3
        assert server.stats.rejected == {}, "no share lost across the change"
    finally:
        await miner.stop()


def test_event_loop_choice():
    from plumbing import eventloop

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.run(which(), "asyncio").startswith("asyncio")
    if eventloop.uvloop_available():
        assert eventloop.run(which(), "uvloop").startswith("uvloop")
        assert eventloop.run(which(), "auto").startswith("uvloop")
