"""Payouts run by the ledger's leader (`payout_interval`) in a cluster, through bcoin's
wallet: the leader pays, is killed with SIGKILL while it keeps paying every second, and
the next leader goes on; every batch is paid once (a txid of its own, known to the
wallet) and what the ledger says each account was paid is what its batches sent.

That a payout killed at each of its steps is paid exactly once is the ledger's own
guarantee, tested step by step in tests/ledger/test_payouts.py; here it holds across a
change of leader with the real wallet."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.components.bcoin import BcoinNode
from tests.components.postgres import postgres_database
from tests.stratum.stratum_harness import counting_miner
from tests.waiting import wait_for

from .cluster_process import ClusterProcess, cluster_config, leaders

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def batches(dsn: str) -> list[tuple[int, str, str | None, int]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT id, status, txid, total FROM payout_batches ORDER BY id").fetchall()]


def sent_after(dsn: str, after: int) -> bool:
    return any(i > after and status == "sent" for i, status, _, _ in batches(dsn))


async def test_the_leader_pays_and_the_next_leader_goes_on(
    bcoin_module: BcoinNode, tmp_path: Path
) -> None:
    node = bcoin_module
    await asyncio.to_thread(node.fund_wallet)
    payout = await asyncio.to_thread(node.new_address)
    accounts = {"alice": await asyncio.to_thread(node.new_address),
                "bob": await asyncio.to_thread(node.new_address)}  # fmt: skip
    with postgres_database() as dsn:
        text = cluster_config(
            url=node.rpc_url, dsn=dsn, payout=payout, accounts=accounts,
            top="ledger_interval = 0.5\npayout_interval = 1",
            ledger="maturity = 2\nmin_payout_sat = 1000",
            extra=f'[wallet]\nurl = "{node.wallet_url}"\nflavor = "bcoin"\n',
        )
        with ClusterProcess(tmp_path, text) as cluster:
            await asyncio.wait_for(asyncio.to_thread(cluster.start), 150)
            acked: Counter[str] = Counter()
            miners = [counting_miner("127.0.0.1", cluster.port, f"{name}.rig", acked,
                                     hashrate=3.0, reconnect_delay=0.3)
                      for name in accounts]  # fmt: skip
            try:
                await wait_for(lambda: sent_after(dsn, 0), 90, "a payout sent by the leader",
                               interval=0.25)  # fmt: skip
                first = max(i for i, *_ in batches(dsn))
                seen: dict[int, float] = {}

                def one_leader() -> bool:
                    seen.clear()
                    seen.update(leaders(cluster))
                    return sorted(seen.values()) == [0.0, 1.0]

                await wait_for(one_leader, 30, lambda: f"one leader: {seen}", interval=0.2)
                leader = next(i for i, v in seen.items() if v == 1.0)
                os.kill(cluster.workers()[leader][0], signal.SIGKILL)
                await wait_for(lambda: sent_after(dsn, first), 90,
                               "a payout sent by the next leader", interval=0.25)  # fmt: skip
            finally:
                for miner in miners:
                    await miner.stop()
            assert await asyncio.to_thread(cluster.terminate) == 0
            log = cluster.log()
        rows = batches(dsn)
        with psycopg.connect(dsn) as conn:
            paid_rows = conn.execute(
                "SELECT p.account, sum(p.amount) FROM payouts p JOIN payout_batches b "
                "ON b.id = p.batch_id WHERE b.status = 'sent' GROUP BY p.account").fetchall()
            balances = dict(conn.execute("SELECT account, paid FROM balances").fetchall())
    sent = [r for r in rows if r[1] == "sent"]
    txids = [r[2] for r in sent]
    assert len(sent) >= 2 and None not in txids and len(set(txids)) == len(txids), rows
    for txid in txids:  # each one the wallet's own, once
        assert (await asyncio.to_thread(node.wallet_rpc, "gettransaction", txid))["txid"] == txid
    assert {a: int(v) for a, v in paid_rows} == {a: int(v) for a, v in balances.items() if v}
    assert "paid batch" in log and log.count("now leads the ledger") >= 2
