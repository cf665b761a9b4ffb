"""rigsim's Stratum miner against a real server: pacing, pause, rate changes."""

from __future__ import annotations

import asyncio

from rigsim.miner import Miner, difficulty_target, prevhash_from_stratum

from .stratum_harness import publish


def test_prevhash_word_swap():
    internal = bytes(range(32))
    stratum = b"".join(internal[i : i + 4][::-1] for i in range(0, 32, 4)).hex()
    assert prevhash_from_stratum(stratum) == internal


def test_fractional_difficulty_target():
    assert difficulty_target(1) == 0xFFFF << 208
    assert difficulty_target(0.5) == 0xFFFF << 209
    assert difficulty_target(2.0**-300) == (1 << 256) - 1


async def test_hash_rate_pause_and_rate_change(make_server):
    server = await make_server()
    host, port = server.address
    miner = Miner(host, port, "erin.rig", hashrate=40_000, slice_seconds=0.05)
    miner.start()
    try:
        await asyncio.wait_for(miner.connected.wait(), 5)
        await asyncio.sleep(0.2)
        h0 = miner.stats.hashes
        await asyncio.sleep(1.0)
        rate = miner.stats.hashes - h0
        assert 24_000 <= rate <= 46_000, rate  # paced: never above, a busy box may lag
        miner.pause()
        await asyncio.sleep(0.15)
        h1 = miner.stats.hashes
        await asyncio.sleep(0.5)
        assert miner.stats.hashes == h1, "a paused rig hashes nothing"
        miner.resume()
        miner.hashrate = 10_000
        await asyncio.sleep(0.2)
        h2 = miner.stats.hashes
        await asyncio.sleep(1.0)
        assert 6_000 <= miner.stats.hashes - h2 <= 13_000
        assert miner.stats.accepted > 0 and not miner.stats.rejected
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
