"""Helpers for Stratum tests: real jobs, a scripted client, share finding.

Jobs come from pool.jobs' JobFactory on a getblocktemplate-shaped dict; shares are
found with real SHA-256d (hashing.scan_nonces) from the notify params the client got,
so every test exercises the same header reconstruction a miner performs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import hashing
from pool.bitcoin.target import bits_to_target, difficulty_to_target
from pool.jobs.factory import TemplateWork
from pool.stratum.config import StratumConfig
from pool.stratum.jobfeed import JobFeed
from rigsim.miner import Miner, MiningJob, StratumClient
from tests.waiting import wait_for

POOL_SCRIPT = bytes.fromhex("0014" + "22" * 20)
EASY_BITS = "207fffff"  # regtest: about every other hash is a block
HARD_BITS = "1d00ffff"  # mainnet difficulty 1: no test share is ever a block
TINY_DIFF = 2.0**-24  # a share every ~256 hashes


def template(
    *, bits: str = HARD_BITS, height: int = 300, prev: str = "11" * 32, ntx: int = 3,
    mintime: int | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    txs = []
    for i in range(ntx):
        data = bytes([2, 0, 0, 0, 1]) + bytes([i + 1]) * 32 + bytes(10) + bytes([height % 256])
        txid = hashing.sha256d(data)[::-1].hex()
        txs.append({"data": data.hex(), "txid": txid, "hash": txid, "fee": 1000})
    return {
        "version": 0x20000000,
        "previousblockhash": prev,
        "transactions": txs,
        "coinbasevalue": 5_000_000_000 + 1000 * ntx,
        "target": f"{bits_to_target(int(bits, 16)):064x}",
        "mintime": now - 600 if mintime is None else mintime,
        "curtime": now,
        "bits": bits,
        "height": height,
        "rules": [],
    }


def publish(feed: JobFeed, *, clean: bool = True, **kwargs: Any):
    return feed.publish_template(TemplateWork.from_gbt(template(**kwargs)), clean_jobs=clean)


def stratum_config(**overrides: Any) -> StratumConfig:
    vardiff = {"initial": TINY_DIFF, "minimum": 2.0**-40, "enabled": False}
    vardiff.update(overrides.pop("vardiff", {}))
    overrides.setdefault("port", 0)
    return StratumConfig(vardiff=vardiff, **overrides)


class Scripted:
    """A scripted miner: raw access to the wire plus helpers for the usual steps."""

    def __init__(self, client: StratumClient) -> None:
        self.client = client
        self.notes: list[tuple[str, list]] = []
        self._seen = 0
        self._event = asyncio.Event()
        self.extranonce1 = b""
        self.extranonce2_size = 0
        self.difficulty = 1.0
        self.jobs: dict[str, MiningJob] = {}
        self.last_job: MiningJob | None = None

    def on_note(self, method: str, params: list) -> None:
        self.notes.append((method, params))
        if method == "mining.set_difficulty":
            self.difficulty = float(params[0])
        elif method == "mining.notify":
            job = MiningJob.from_notify(params, self.difficulty, self.extranonce1,
                                        self.extranonce2_size)
            self.jobs[job.job_id] = job
            self.last_job = job
        self._event.set()

    async def next_note(self, method: str, timeout: float = 2.0) -> list:
        """The next notification of `method` not yet consumed."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self._seen, len(self.notes)):
                if self.notes[i][0] == method:
                    self._seen = i + 1
                    return self.notes[i][1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s; got {self.notes}")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)

    async def call(self, method: str, params: list) -> dict:
        return await self.client.request(method, params, timeout=3.0)

    async def subscribe(self) -> dict:
        msg = await self.call("mining.subscribe", ["scripted/1.0"])
        self.extranonce1 = bytes.fromhex(msg["result"][1])
        self.extranonce2_size = msg["result"][2]
        return msg

    async def handshake(self, worker: str = "alice.rig1") -> MiningJob:
        await self.subscribe()
        msg = await self.call("mining.authorize", [worker, "x"])
        assert msg["result"] is True, msg
        await self.next_note("mining.notify")
        assert self.last_job is not None
        return self.last_job

    async def closed(self, timeout: float = 2.0) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self.client.closed), timeout)
        except TimeoutError:
            return False
        return True


def find_nonce(job: MiningJob, en2: bytes, *, difficulty: float, version: int | None = None,
               meets: bool = True, network: int | None = None) -> int:
    """A nonce whose header meets (or, with meets=False, misses) the share target; with
    `network`, one that also meets that target (a block candidate)."""
    version = job.version if version is None else version
    header76 = job.header76(en2, job.ntime, version)
    target = difficulty_to_target(difficulty)
    if network is not None:
        target = min(target, network)
    found = hashing.scan_nonces(header76, target, 0, 1 << 16)
    if meets:
        assert found, "no share in 65536 nonces"
        return found[0]
    hits = set(found)
    return next(n for n in range(1 << 16) if n not in hits)


def submit_params(worker: str, job: MiningJob, en2: bytes, nonce: int,
                  version_bits: int | None = None, ntime: int | None = None) -> list:
    params = [worker, job.job_id, en2.hex(), f"{job.ntime if ntime is None else ntime:08x}",
              f"{nonce:08x}"]
    if version_bits is not None:
        params.append(f"{version_bits:08x}")
    return params


async def never_faster_than(miner: Miner, rate: float, hashes: int) -> None:
    """Wait for `hashes` more hashes and check they took at least the time `rate` allows
    (less the slice that may have begun before the wait). Only a lower bound on time: a
    busy machine makes a rig slower, never faster, so this cannot flake; how closely the
    rate is met is measured by benchmarks/miner_rate.py."""
    h0, t0 = miner.stats.hashes, time.monotonic()
    await wait_for(lambda: miner.stats.hashes >= h0 + hashes, 60, f"{hashes} hashes")
    elapsed = time.monotonic() - t0
    done = miner.stats.hashes - h0
    allowed = (done - rate * miner.slice_seconds) / rate
    assert elapsed >= 0.95 * allowed, f"{done} hashes in {elapsed:.3f} s at {rate:g} H/s"


def counting_miner(host: str, port: int, worker: str, acked: Counter[str],
                   **kwargs: Any) -> Miner:  # fmt: skip
    """A started miner that counts in `acked[worker]` every share the pool answered
    `true` (what a crash or a shutdown must never lose)."""
    miner = Miner(host, port, worker, **kwargs)

    def count(ok: bool, _msg: Any) -> None:
        if ok:
            acked[worker] += 1

    miner.on_share = count
    miner.start()
    return miner
