"""One host, N processes: real `surplus pool` clusters (a supervisor and two workers on
one port through SO_REUSEPORT) on bcoin regtest and PostgreSQL.

Miners mine through the shared port; each worker hands out extranonce1 values under its
own prefix (node_id, index); a block from the node reaches the miners of every worker
(each follows the node itself); metrics carry `node` and `process`. Then one worker is
killed with SIGKILL while the miners submit: its miners reconnect to the cluster, the
supervisor says what happened and starts the worker again, and every share answered
`true` is in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pool import stats_schema as schema
from pool.online_sketch import OnlineSketch
from tests.components.bcoin import BcoinNode
from tests.components.postgres import postgres_database
from tests.waiting import wait_for

from .cluster_process import ClusterProcess, cluster_config, mine_through, recorded_shares

pytestmark = [pytest.mark.integration]

NODE_ID = 7
MINERS = 8
HASHRATE = 3.0  # hashes/s per miner: every hash is a share, about every other a block


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def get(url: str) -> Any:
    return json.loads(scrape(url))


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the pool sent before it closed the connection (a reset counts as closed)."""
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await asyncio.wait_for(reader.read(4096), 10):
            data += chunk
    return data


async def check_shared_ban(cluster: ClusterProcess) -> None:
    """127.0.0.77 sends bad requests until its process bans it; then connections from it
    are refused by both processes (the kernel spreads them by source port)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.port,
                                                   local_addr=("127.0.0.77", 0))  # fmt: skip
    writer.write(b'{"id":1,"method":"mining.nothing","params":[]}\n' * 6)
    await writer.drain()
    await until_closed(reader)  # by the ban
    writer.close()
    await wait_for(lambda: "banning 127.0.0.77" in cluster.log(), 10, "the ban")
    await wait_for(lambda: "refusing 127.0.0.77 for" in cluster.log(), 10,
                   "the ban at the other process (LISTEN/NOTIFY)")  # fmt: skip

    async def refused_by_both() -> bool:
        for _ in range(40):
            r, w = await asyncio.open_connection("127.0.0.1", cluster.port,
                                                 local_addr=("127.0.0.77", 0))  # fmt: skip
            with contextlib.suppress(ConnectionError):
                w.write(b'{"id":1,"method":"mining.subscribe","params":[]}\n')
            assert await until_closed(r) == b"", "a banned address was served"
            w.close()
            log = cluster.log()
            if all(f"[process {i}] pool.stratum.server: refusing 127.0.0.77: the address is "
                   "banned" in log for i in (0, 1)):
                return True
        return False

    assert await refused_by_both(), cluster.log()[-3000:]


async def check_stats(cluster: ClusterProcess, names: list[str],
                      by_process: Counter[str]) -> None:  # fmt: skip
    """The supervisor's stats API: the sum of the processes' connections, every worker
    of both processes on one page, the miners' page's answers for an account."""
    api = f"{cluster.stats_url}/api/v1"

    async def read(path: str) -> Any:
        return await asyncio.to_thread(get, api + path)

    def every_worker_has_a_share() -> bool:
        page = get(api + "/workers?limit=100")
        return {r["worker"] for r in page["workers"] if r["accepted_shares"]} == set(names)

    await wait_for(every_worker_has_a_share, 30, "every worker's shares in the cluster's page",
                   interval=0.2)  # fmt: skip
    summary = schema.PoolSummary.model_validate(await read("/pool"))
    assert summary.connections == sum(by_process.values()) == len(names)
    assert summary.authorized_workers == len(names)
    assert summary.shares.accepted >= len(names)
    page = schema.WorkerList.model_validate(await read("/workers?limit=3"))
    assert len(page.workers) == 3 and page.next_offset == 3
    rates = [w.hashrate_hs for w in page.workers]
    assert rates == sorted(rates, reverse=True)
    overview = schema.PoolOverview.model_validate(await read("/pool/overview"))
    assert overview.workers_online == len(names)
    assert overview.miners_online == len({n.split(".")[0] for n in names})  # each once
    online = schema.PoolOnline.model_validate(await read("/pool/online"))
    assert OnlineSketch.decode(online.accounts.model_dump()).count() == overview.miners_online
    alice = [n for n in names if n.startswith("alice.")]
    miner = schema.Miner.model_validate(await read("/miner?account=alice"))
    assert miner.workers_online == len(alice)
    rows = schema.MinerWorkerList.model_validate(await read("/miner/workers?account=alice"))
    assert sorted(w.worker for w in rows.workers) == sorted(alice)
    schema.HashrateChart.model_validate(await read("/pool/hashrate?range=1h"))
    with urllib.request.urlopen(f"{cluster.stats_url}/", timeout=10) as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]


async def test_two_processes_share_the_port_and_lose_no_answered_share(
    bcoin: BcoinNode, tmp_path: Path
) -> None:
    payout = await asyncio.to_thread(bcoin.new_address)
    accounts = {"alice": payout, "bob": payout}
    with postgres_database() as dsn:
        text = cluster_config(url=bcoin.rpc_url, dsn=dsn, payout=payout, accounts=accounts,
                              node_id=NODE_ID, extra='[stats_api]\nlisten = "127.0.0.1:0"',
                              stratum="[stratum.ban]\nmax_invalid = 3")  # fmt: skip
        with ClusterProcess(tmp_path, text) as cluster:
            await asyncio.wait_for(asyncio.to_thread(cluster.start), 150)
            workers = cluster.workers()
            assert sorted(workers) == [0, 1]
            assert {prefix for _, prefix in workers.values()} == {"0700", "0701"}

            acked: Counter[str] = Counter()
            names = [f"{'alice' if i % 2 else 'bob'}.rig{i}" for i in range(MINERS)]
            miners, by_process = await mine_through(cluster, names, acked, HASHRATE,
                                                    {"0700", "0701"})  # fmt: skip
            try:
                # A block from the node reaches the miners of both processes. The miners
                # pause first: on regtest every other hash of theirs is a block too.
                for miner in miners:
                    miner.pause()
                await wait_for(lambda: all(m.idle for m in miners), 10, "the miners idle")
                tip = (await asyncio.to_thread(bcoin.mine, 1, payout))[-1]

                def on_the_tip() -> bool:  # the node's tip: ours, or a block landing after
                    best = bytes.fromhex(bcoin.rpc("getbestblockhash"))[::-1]
                    return {m.extranonce1[:2].hex() for m in miners
                            if m.job is not None and m.job.prevhash == best} == set(by_process)

                await wait_for(on_the_tip, 30, "the node's new block on the miners of both "
                               f"processes ({tip})", interval=0.1)  # fmt: skip
                for miner in miners:
                    miner.resume()

                # The stats API answers for the whole cluster.
                await check_stats(cluster, names, by_process)

                # A ban made by one process: every process refuses the address.
                await check_shared_ban(cluster)

                # Metrics: one target per process, labelled.
                urls = cluster.metrics_urls()
                assert sorted(urls) == [0, 1]
                for index, url in urls.items():
                    text = await asyncio.to_thread(scrape, url)
                    assert f'node="{NODE_ID}"' in text and f'process="{index}"' in text
                    assert "surplus_pool_connections" in text

                await wait_for(lambda: sum(acked.values()) >= 40, 60, "40 answered shares")
                victim = max(by_process, key=lambda p: by_process[p])
                index = int(victim[2:], 16)
                pid = workers[index][0]
                os.kill(pid, signal.SIGKILL)
                at_kill = sum(acked.values())
                # Its miners come back (to the other process or the restarted one).
                await wait_for(lambda: all(m.job is not None and m.stats.reconnects >= 1
                                           for m in miners if m.extranonce1[:2].hex() == victim)
                               or all(m.extranonce1[:2].hex() != victim for m in miners),
                               30, "the dead process's miners reconnected")  # fmt: skip
                await wait_for(lambda: sum(acked.values()) >= at_kill + 40, 60,
                               "40 more answered shares after the kill")  # fmt: skip
                await wait_for(lambda: f"pool process {index} is back" in cluster.log(), 90,
                               lambda: f"the restart in the log:\n{cluster.log()[-2000:]}")
                log = cluster.log()
                assert (f"pool process {index} (pid {pid}) was killed by SIGKILL" in log), log
                await wait_for(lambda: cluster.workers()[index][0] != pid, 10,
                               "the new process's ready line")  # fmt: skip
            finally:
                for miner in miners:
                    await miner.stop()
            assert await asyncio.to_thread(cluster.terminate) == 0, cluster.log()[-3000:]

        recorded = recorded_shares(dsn, payout)
    for name in names:
        assert recorded[name] >= acked[name], (name, recorded[name], acked[name])
    assert "Traceback" not in cluster.log()
