"""Payouts run by the ledger's leader (`payout_interval`) in a cluster, through bcoin's
wallet: the leader pays, is killed with SIGKILL while it keeps paying every second, and
the next leader goes on; every batch is paid once (a txid of its own, known to the
wallet) and what the ledger says each account was paid is what its batches sent.

And the leader killed at each payout step, through a pass-through proxy in front of the
wallet: just before the wallet sends (the batch recorded, nothing sent) and just after
it sent (the txid never recorded). The next leader reconciles the batch with the wallet
(sends it, or finds it sent) and every transaction the wallet made is one batch's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg
import pytest
from aiohttp import web

from tests.components.bcoin import BcoinNode
from tests.components.postgres import postgres_database
from tests.loopback_http import serve_app
from tests.stratum.stratum_harness import counting_miner
from tests.waiting import wait_for

from .cluster_process import ClusterProcess, cluster_config, leaders

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def batches(dsn: str) -> list[tuple[int, str, str | None, int]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT id, status, txid, total FROM payout_batches ORDER BY id").fetchall()]


async def funded(node: BcoinNode, *names: str) -> tuple[str, dict[str, str]]:
    """The wallet funded; the pool's address and each account's, all the wallet's."""
    await asyncio.to_thread(node.fund_wallet)
    payout = await asyncio.to_thread(node.new_address)
    return payout, {name: await asyncio.to_thread(node.new_address) for name in names}


def sent_after(dsn: str, after: int) -> bool:
    return any(i > after and status == "sent" for i, status, _, _ in batches(dsn))


async def test_the_leader_pays_and_the_next_leader_goes_on(
    bcoin_module: BcoinNode, tmp_path: Path
) -> None:
    node = bcoin_module
    payout, accounts = await funded(node, "alice", "bob")
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


class WalletProxy:
    """bcoin's wallet RPC, passed through; on `sendmany` it can SIGKILL the leader just
    before the wallet sends (`before_send`) or just after it sent, before the leader
    hears the txid (`after_send`). It records every txid the wallet returned: each is a
    transaction the wallet really made."""

    def __init__(self, upstream: str, cluster: ClusterProcess) -> None:
        self.upstream = upstream
        self.cluster = cluster
        self.crash: str | None = None
        self.killed: list[str] = []
        self.sent: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.forward)
        self.runner, base = await serve_app(app)
        self.url = f"{base}/"
        return self.url

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def kill_leader(self, step: str) -> None:
        now = await asyncio.to_thread(leaders, self.cluster)
        index = next(i for i, v in now.items() if v == 1.0)
        os.kill(self.cluster.workers()[index][0], signal.SIGKILL)
        self.killed.append(step)
        self.crash = None

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        method = json.loads(body).get("method")
        crash = self.crash if method == "sendmany" else None
        if crash == "before_send":
            await self.kill_leader(crash)
            return web.Response(status=502)
        async with aiohttp.ClientSession() as http, http.post(
            self.upstream, data=body, headers={"Authorization": request.headers.get(
                "Authorization", ""), "Content-Type": "application/json"},
        ) as upstream:
            answer = await upstream.read()
            status = upstream.status
        if method == "sendmany":
            result = json.loads(answer).get("result")
            if result:
                self.sent.append(result)
        if crash == "after_send":
            await self.kill_leader(crash)
        return web.Response(body=answer, status=status, content_type="application/json")


async def test_a_leader_killed_at_each_payout_step_pays_once(
    bcoin_fresh: BcoinNode, tmp_path: Path
) -> None:
    # a wallet of its own: another test's payouts of the same total would be (rightly)
    # suspects that stop the reconciliation as in doubt
    node = bcoin_fresh
    payout, accounts = await funded(node, "carol", "dave")
    key = node.wallet_url.split("//", 1)[1].split("@", 1)[0]
    with postgres_database() as dsn:
        cluster = ClusterProcess(tmp_path, "")
        proxy = WalletProxy(node.wallet_url.replace(f"{key}@", ""), cluster)
        proxy_url = (await proxy.start()).replace("http://", f"http://{key}@")
        cluster.config.write_text(cluster_config(
            url=node.rpc_url, dsn=dsn, payout=payout, accounts=accounts,
            top="ledger_interval = 0.5\npayout_interval = 1",
            ledger="maturity = 2\nmin_payout_sat = 1000",
            extra=f'[wallet]\nurl = "{proxy_url}"\nflavor = "bcoin"\n',
        ))  # fmt: skip
        miners = []
        try:
            with cluster:
                await asyncio.wait_for(asyncio.to_thread(cluster.start), 150)
                acked: Counter[str] = Counter()
                miners = [counting_miner("127.0.0.1", cluster.port, f"{name}.rig", acked,
                                         hashrate=3.0, reconnect_delay=0.3)
                          for name in accounts]  # fmt: skip
                for step, how in (("before_send", "sent now"),
                                  ("after_send", "found in wallet")):  # fmt: skip
                    await wait_for(lambda: len(leaders(cluster)) == 2, 60, "both processes up")
                    proxy.crash = step
                    await wait_for(lambda s=step: s in proxy.killed, 90,  # type: ignore[misc]
                                   f"the leader killed {step}", interval=0.2)
                    try:  # a takeover, a restart and a payout round: bounded, not timed
                        await wait_for(lambda h=how: f"reconciled ({h})" in cluster.log(), 120,
                                       f"the next leader reconciling the batch ({how})",
                                       interval=0.2)  # fmt: skip
                    except AssertionError as e:
                        raise AssertionError(f"{e}\n--- the cluster's log, last lines:\n"
                                             f"{cluster.log()[-6000:]}") from None
                for miner in miners:
                    await miner.stop()
                assert await asyncio.to_thread(cluster.terminate) == 0
        finally:
            for miner in miners:
                await miner.stop()
            await proxy.close()
        rows = batches(dsn)
    sent = [txid for _, status, txid, _ in rows if status == "sent"]
    assert all(status in ("sent", "cancelled") for _, status, _, _ in rows), rows
    # every transaction the wallet made is one batch's, and no batch has two
    assert sorted(sent) == sorted(proxy.sent) and len(set(sent)) == len(sent), (rows, proxy.sent)
