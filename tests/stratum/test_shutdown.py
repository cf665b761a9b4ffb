"""Graceful shutdown under load (issue 12, finding 12): real miners submit to a real
`surplus pool` process when it gets SIGTERM. It stops reading, answers what is in
flight, commits, sends client.reconnect, closes, and its log says exactly that and
nothing alarming; every share answered `true` is in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from pathlib import Path

import pytest

from pool.ledger import LedgerConfig, open_store
from rigsim.miner import Miner, StratumClient

from .pool_process import PAYOUT, PoolProcess, devnet_config
from .stratum_harness import counting_miner

pytestmark = [pytest.mark.integration]

WORKERS = [f"{name}.rig{i}" for i, name in enumerate(("alice", "bob", "carol", "dave"))]
PROXIES = ["proxy.farm1", "proxy.farm2"]
SIGTERM_AFTER = 3000  # shares answered `true` before the signal


class Firehose:
    """A proxy in front of many rigs: pipelines valid shares as fast as the pool reads
    them (at difficulty 2**-32 all but one hash in 65,536 is a share, so any nonce
    will do) and keeps sending after it is told to reconnect."""

    def __init__(self, worker: str, acked: Counter[str]) -> None:
        self.worker = worker
        self.acked = acked
        self.task: asyncio.Task[None] | None = None
        self.told_to_reconnect = False
        self.answers_after_reconnect = 0

    async def run(self, port: int, local: str) -> None:
        notes: dict[str, list] = {}

        def note(method: str, params: list) -> None:
            notes[method] = params
            self.told_to_reconnect |= method == "client.reconnect"

        client = await StratumClient.connect("127.0.0.1", port, note, local_addr=(local, 0))
        sub = await client.call("mining.subscribe", ["firehose/1"])
        size = int(sub[2])
        client.on_response = self._answer
        assert await client.call("mining.authorize", [self.worker, "x"]) is True
        while "mining.notify" not in notes:
            await asyncio.sleep(0.01)
        job = (notes["mining.notify"][0], int(notes["mining.notify"][7], 16))
        n = 0
        while not client.is_closed:
            lines = []
            for _ in range(200):
                n += 1
                lines.append(b'{"id":%d,"method":"mining.submit","params":["%s","%s","%s",'
                             b'"%08x","%08x"]}\n' % (n, self.worker.encode(), job[0].encode(),
                                                     n.to_bytes(size, "big").hex().encode(),
                                                     job[1], n & 0xFFFFFFFF))
            with contextlib.suppress(ConnectionError):
                client.send_raw(b"".join(lines))
            await asyncio.sleep(0.005)

    def _answer(self, msg: dict) -> None:
        if self.told_to_reconnect:
            self.answers_after_reconnect += 1
        if msg.get("result") is True:
            self.acked[self.worker] += 1

    def start(self, port: int, local: str) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(port, local))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self.task


async def test_sigterm_under_load_drains_quietly(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    text = devnet_config("pool", ledger=ledger, share_difficulty=2.0**-32).replace(
        'scheme = "pplns"\n', 'scheme = "pplns"\ncommit_delay_ms = 2\n')
    acked: Counter[str] = Counter()
    miners: list[Miner] = []
    proxies = [Firehose(worker, acked) for worker in PROXIES]
    with PoolProcess(tmp_path, text) as pool:
        await asyncio.to_thread(pool.start)
        try:
            for i, worker in enumerate(WORKERS):
                miners.append(counting_miner("127.0.0.1", pool.port, worker, acked,
                                             hashrate=2_000, reconnect_delay=30,
                                             local_host=f"127.0.3.{i + 1}"))  # fmt: skip
            for i, proxy in enumerate(proxies):
                proxy.start(pool.port, f"127.0.4.{i + 1}")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while sum(acked.values()) < SIGTERM_AFTER:
                assert loop.time() < deadline, f"only {sum(acked.values())} shares answered"
                assert pool.alive(), pool.log()[-3000:]
                await asyncio.sleep(0.01)
            code = await asyncio.to_thread(pool.terminate, 60)  # the miners keep submitting
            reconnected = [m.stats.reconnects for m in miners]
        finally:
            for miner in miners:
                await miner.stop()
            for proxy in proxies:
                await proxy.stop()
        log = pool.log()
    assert code == 0, log[-3000:]
    assert not pool.alarming(), pool.alarming()
    assert not [line for line in log.splitlines() if " ERROR " in line or " WARNING " in line], \
        log[-3000:]
    drain = re.search(r"stratum draining: stopped reading from (\d+) connections; "
                      r"answering (\d+) shares in flight", log)
    closed = re.search(r"stratum closed: answered (\d+) shares in flight, sent "
                       r"client.reconnect to (\d+) miners", log)
    assert drain and closed, log[-3000:]
    connections = len(WORKERS) + len(PROXIES)
    assert int(drain.group(1)) == connections and int(closed.group(2)) == connections
    assert log.index(drain.group(0)) < log.index(closed.group(0)) < log.index("pool stopped")
    assert all(n >= 1 for n in reconnected), reconnected  # each heard client.reconnect
    # the pool answered everything it had read before it said goodbye
    assert all(p.told_to_reconnect for p in proxies)
    assert [p.answers_after_reconnect for p in proxies] == [0, 0]
    store = open_store(LedgerConfig(backend="sqlite", path=str(ledger), fee_account=PAYOUT))
    try:
        recorded = Counter(share.worker for _, share in store.shares())
    finally:
        store.close()
    for worker in WORKERS + PROXIES:
        assert recorded[worker] >= acked[worker], (worker, recorded[worker], acked[worker])
