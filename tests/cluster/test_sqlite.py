"""One host, two processes, one SQLite ledger: a real `surplus pool` cluster on bcoin
regtest whose pool processes hand their writes to the ledger writer process.

Miners mine through the shared port into both processes; every share answered `true`
is in the SQLite file, also after a worker is killed with SIGKILL mid-load (the
supervisor restarts it, as on PostgreSQL) and after the writer is killed with SIGKILL
mid-load: the workers answer shares with an error while it is away (never `true`), the
supervisor restarts it, the workers reconnect, and the shares are answered `true` again.
The writer leads (the workers' leader gauge is 0); each worker reads the file itself
(the stats API's block list). A frame that breaks the protocol closes only its own
connection."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from pool.ledger import LedgerConfig, open_store
from tests.components.bcoin import BcoinNode
from tests.waiting import wait_for

from .cluster_process import (
    ClusterProcess,
    cluster_config,
    leaders,
    mine_through,
    recorded_shares,
)

pytestmark = [pytest.mark.integration]

NODE_ID = 9
MINERS = 8
HASHRATE = 3.0  # hashes/s per miner: every hash is a share, about every other a block


def answered(acked: Counter[str]) -> int:
    return sum(acked.values())


async def test_two_processes_one_sqlite_writer_lose_no_answered_share(
    bcoin: BcoinNode, tmp_path: Path
) -> None:
    payout = await asyncio.to_thread(bcoin.new_address)
    accounts = {"alice": payout, "bob": payout}
    ledger_path = tmp_path / "ledger.sqlite3"
    text = cluster_config(url=bcoin.rpc_url, dsn="", payout=payout, accounts=accounts,
                          node_id=NODE_ID, sqlite=ledger_path,
                          extra='[stats_api]\nlisten = "127.0.0.1:0"')  # fmt: skip
    acked: Counter[str] = Counter()
    names = [f"{'alice' if i % 2 else 'bob'}.rig{i}" for i in range(MINERS)]
    with ClusterProcess(tmp_path, text) as cluster:
        await asyncio.wait_for(asyncio.to_thread(cluster.start), 150)
        workers = cluster.workers()
        assert sorted(workers) == [0, 1]
        writer_pid = cluster.writer_pid()
        assert writer_pid is not None and writer_pid not in {p for p, _ in workers.values()}
        socket_dir = Path(next(m for m in cluster.lines if "ledger writer: ready on" in m)
                          .split("ready on ")[1].split(",")[0]).parent  # fmt: skip
        assert oct(os.stat(socket_dir).st_mode & 0o777) == oct(0o700)

        miners, by_process = await mine_through(cluster, names, acked, HASHRATE,
                                                {"0900", "0901"})  # fmt: skip
        try:
            await wait_for(lambda: answered(acked) >= 40, 60, "40 answered shares")

            # The writer leads; the workers do not.
            await wait_for(lambda: set(leaders(cluster)) == {0, 1}, 30, "both leader gauges")
            assert set(leaders(cluster).values()) == {0.0}

            # Each worker reads the file itself: the blocks the writer recorded.
            def blocks_listed() -> bool:
                url = f"{cluster.stats_url}/api/v1/pool/blocks"
                with urllib.request.urlopen(url, timeout=10) as response:
                    return bool(json.loads(response.read())["blocks"])

            await wait_for(blocks_listed, 60, "a recorded block in the stats API", interval=0.5)

            # A frame that breaks the protocol: its connection closes, with a log line;
            # the workers' connections go on.
            reader, raw = await asyncio.open_unix_connection(str(socket_dir / "ledger.sock"))
            raw.write(b"\xff\xff\xff\xff")
            await raw.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            raw.close()
            await wait_for(lambda: "[ledger writer] pool.ledger.writer_server: closing a "
                           "connection that broke the protocol" in cluster.log(), 10,
                           lambda: f"the writer's log line:\n{cluster.log()[-3000:]}")
            at_frame = answered(acked)
            await wait_for(lambda: answered(acked) >= at_frame + 10, 60, "shares go on")

            # A worker killed mid-load: restarted, its miners come back.
            victim = max(by_process, key=lambda p: by_process[p])
            index = int(victim[2:], 16)
            pid = workers[index][0]
            os.kill(pid, signal.SIGKILL)
            at_kill = answered(acked)
            await wait_for(lambda: answered(acked) >= at_kill + 40, 60,
                           "40 more answered shares after the worker's kill")  # fmt: skip
            await wait_for(lambda: f"pool process {index} is back" in cluster.log(), 90,
                           lambda: f"the worker's restart:\n{cluster.log()[-2000:]}")
            assert f"pool process {index} (pid {pid}) was killed by SIGKILL" in cluster.log()

            # The writer killed mid-load: shares are refused meanwhile, none answered
            # true is lost, the supervisor restarts it and the workers reconnect.
            before = len(cluster.log())
            os.kill(writer_pid, signal.SIGKILL)
            await wait_for(lambda: "ledger writer connection lost" in cluster.log(), 30,
                           "the workers noticing the writer's death")  # fmt: skip
            await wait_for(lambda: "ledger writer is back" in cluster.log(), 90,
                           lambda: f"the writer's restart:\n{cluster.log()[-2000:]}")
            log = cluster.log()
            assert f"ledger writer (pid {writer_pid}) was killed by SIGKILL" in log, log[-3000:]
            await wait_for(lambda: cluster.writer_pid() != writer_pid, 10, "its ready line")
            await wait_for(lambda: all(
                f"[process {i}] pool.ledger.remote: ledger writer reachable again"
                in cluster.log()[before:] for i in (0, 1)), 30, "both workers reconnected")
            at_back = answered(acked)
            await wait_for(lambda: answered(acked) >= at_back + 40, 60,
                           "40 more answered shares after the writer's restart")  # fmt: skip
        finally:
            for miner in miners:
                await miner.stop()
        assert await asyncio.to_thread(cluster.terminate) == 0, cluster.log()[-3000:]

    recorded = recorded_shares("", payout, sqlite=ledger_path)
    for name in names:
        assert recorded[name] >= acked[name], (name, recorded[name], acked[name])
    store = open_store(LedgerConfig(backend="sqlite", path=ledger_path, fee_account=payout))
    try:
        assert store.blocks(), "no block reached the ledger through the writer"
    finally:
        store.close()
    log = cluster.log()
    assert "Traceback" not in log, log[-3000:]
    assert not (tmp_path / "run").exists() and not socket_dir.exists()
