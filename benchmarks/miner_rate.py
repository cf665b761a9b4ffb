"""How closely rigsim's Stratum miner holds the hash rate it is set to, against a real
Stratum server on loopback (the claim tests/stratum/test_miner.py only bounds from one
side: a rig is never faster than its rate).

    .venv/bin/python benchmarks/miner_rate.py [--seconds 3] [--rates 10000,40000,200000]

For each rate: the hashes counted over `--seconds` of real time, as a share of the rate.
Goal: within 10 % on an idle machine (a loaded one lags, never runs ahead); the last line
gives the worst ratio beside the goal:

    miner_rate: worst_measured_over_set=... (highest ...; goal 0.90..1.00, ...)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pool.jobs import JobFactory
from pool.jobs.factory import TemplateWork
from pool.node.devnet import DevnetNode
from pool.stratum.config import StratumConfig
from pool.stratum.jobfeed import JobFeed
from pool.stratum.server import StratumServer
from rigsim.miner import Miner

GOAL = (0.90, 1.00)


async def measure(rates: list[float], seconds: float) -> list[float]:
    node = DevnetNode(bits=0x1D00FFFF)  # mainnet difficulty 1: no share is a block
    feed = JobFeed(JobFactory(bytes.fromhex("0014" + "77" * 20)))
    feed.publish_template(TemplateWork.from_gbt(await node.getblocktemplate()), clean_jobs=True)
    config = StratumConfig(host="127.0.0.1", port=0, ban={"enabled": False},
                           vardiff={"enabled": False, "initial": 2.0**-16,
                                    "minimum": 2.0**-16})  # fmt: skip
    server = StratumServer(config, feed, node)
    host, port = await server.start()
    ratios = []
    try:
        for rate in rates:
            miner = Miner(host, port, "bench.rig", hashrate=rate)
            miner.start()
            try:
                await asyncio.wait_for(miner.connected.wait(), 10)
                await asyncio.sleep(0.5)  # past the first job and the first slices
                h0, t0 = miner.stats.hashes, time.monotonic()
                await asyncio.sleep(seconds)
                measured = (miner.stats.hashes - h0) / (time.monotonic() - t0)
            finally:
                await miner.stop()
            ratios.append(measured / rate)
            print(f"  set {rate:>10,.0f} H/s   measured {measured:>10,.0f} H/s   "
                  f"measured/set {measured / rate:5.3f}")
    finally:
        await server.close(reconnect=False)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rates", default="10000,40000,200000")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    ratios = asyncio.run(measure(rates, args.seconds))
    low, high = min(ratios), max(ratios)
    ok = GOAL[0] <= low and high <= GOAL[1] + 0.01  # a counting slice of slack above
    print(f"miner_rate: worst_measured_over_set={low:.3f} (highest {high:.3f}; goal "
          f"{GOAL[0]:.2f}..{GOAL[1]:.2f}, goal/actual {GOAL[0] / low:.2f}x, "
          f"{'met' if ok else 'missed'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
