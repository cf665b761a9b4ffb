"""The vardiff rule (pure), and vardiff on a live connection."""

from __future__ import annotations

import asyncio

import pytest

from pool.stratum.config import StratumConfig, VardiffConfig
from pool.stratum.vardiff import clamp_difficulty, retarget

from .stratum_harness import publish

CFG = VardiffConfig(initial=1.0, minimum=0.001, maximum=1024.0, target_interval=10.0,
                    retarget_time=60.0, retarget_shares=30, max_step=4.0, tolerance=0.25)


def test_waits_for_enough_time_or_shares():
    assert retarget(CFG, 1.0, shares=5, credited=5.0, elapsed=30.0) is None
    assert retarget(CFG, 1.0, shares=12, credited=12.0, elapsed=60.0) == 2.0


def test_converges_toward_the_share_rate():
    # 12 shares of diff 1 in 60 s = 1 share / 5 s: twice the target rate -> diff 2
    assert retarget(CFG, 1.0, 12, 12.0, 60.0) == 2.0
    # 3 shares in 60 s (one per 20 s) -> diff 0.5
    assert retarget(CFG, 1.0, 3, 3.0, 60.0) == 0.5


def test_steps_are_bounded_both_ways():
    assert retarget(CFG, 1.0, 30, 30.0, 1.0) == 4.0  # ideal 300, capped at x4
    assert retarget(CFG, 8.0, 0, 0.0, 60.0) == 2.0  # no shares: down by 4 at most


def test_small_corrections_are_skipped():
    assert retarget(CFG, 1.0, 7, 7.0, 60.0) is None  # ideal 1.17, within 25 %


def test_min_max_and_miner_floor():
    assert retarget(CFG, 0.002, 0, 0.0, 60.0) == 0.001
    assert retarget(CFG, 300.0, 30, 30000.0, 1.0) == 1024.0
    assert retarget(CFG, 1.0, 3, 3.0, 60.0, floor=0.6) == 0.6
    assert clamp_difficulty(CFG, 5000.0) == 1024.0
    assert clamp_difficulty(CFG, 0.0001) == 0.001
    assert clamp_difficulty(CFG, 0.5, floor=2.0) == 2.0


def test_fractional_difficulty_for_tiny_miners():
    # 30 shares of diff 0.001 in 1 s -> ideal 0.3, bounded to x4 = 0.004
    assert retarget(CFG, 0.001, 30, 0.03, 1.0) == 0.004
    new = retarget(CFG, 0.003, 2, 0.006, 60.0)
    assert new is not None and new < 0.003 and new != int(new)


def test_disabled_never_changes():
    off = CFG.model_copy(update={"enabled": False})
    assert retarget(off, 1.0, 100, 100.0, 1.0) is None


def test_config_is_validated():
    with pytest.raises(ValueError, match="outside"):
        VardiffConfig(initial=0.0001, minimum=0.001)
    with pytest.raises(ValueError, match="extra"):
        StratumConfig(vardif={})
    with pytest.raises(ValueError, match="extranonce1_prefix"):
        StratumConfig(extranonce1_prefix="abcdef")


async def test_fast_miner_gets_a_higher_difficulty_with_the_next_job(make_server, feed):
    from rigsim.miner import Miner

    server = await make_server(vardiff={"enabled": True, "initial": 2.0**-24,
                                        "minimum": 2.0**-30, "target_interval": 1.0,
                                        "retarget_time": 0.5, "retarget_shares": 10})
    host, port = server.address
    miner = Miner(host, port, "dave.rig", hashrate=20_000)
    miner.start()
    try:
        await asyncio.wait_for(miner.connected.wait(), 5)
        session = next(iter(server.sessions))
        for _ in range(300):  # generous: the machine may be busy
            if miner.stats.accepted >= 12 and session.difficulty > 2.0**-24:
                break
            await asyncio.sleep(0.05)
        assert session.difficulty > 2.0**-24, ("vardiff raised the difficulty", miner.stats)
        assert miner.difficulty == 2.0**-24, "not sent before the next job"
        publish(feed, clean=False)
        for _ in range(250):
            if miner.difficulty > 2.0**-24:
                break
            await asyncio.sleep(0.02)
        assert miner.difficulty > 2.0**-24, "the raised difficulty came with the next job"
        # the difficulty the session bound to the job the miner works on (vardiff may
        # have moved on since, for the job after it)
        assert miner.job is not None
        assert session.jobs[miner.job.job_id][1] == miner.difficulty
        assert miner.stats.rejected == {}
    finally:
        await miner.stop()
