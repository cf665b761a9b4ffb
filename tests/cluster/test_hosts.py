"""Several pool hosts behind HAProxy, as network namespaces on this machine (see
tests/cluster/netns.py): each host runs `surplus pool` with its own node_id against one
PostgreSQL and one bcoin node, HAProxy sends the miners to them with PROXY v2. Host 1
runs two processes (a supervisor and its workers), host 2 one.

The hosts see each miner's own address (the per-address cap refuses a second connection
from one miner, by its address); exactly one host leads the ledger. SIGKILL one host
while miners submit: HAProxy's health check takes it out, its miners come back through
HAProxy to the other host within seconds, the other host leads the ledger if the dead
one did, and every share answered `true` is in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from rigsim.miner import Miner
from tests.components.bcoin import BcoinNode
from tests.components.haproxy import HaproxyServer
from tests.components.postgres import postgres_database
from tests.stratum.stratum_harness import counting_miner
from tests.waiting import wait_for

from .cluster_process import ClusterProcess, cluster_config, recorded_shares, rig_names
from .netns import Hosts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PG_PORT = 15432
MINERS = 6
LEADS = "now leads the ledger"


def forwarders(hosts: Hosts, rpc_port: int) -> str:
    """HAProxy frontends on each host's link: PostgreSQL and the node, as a host would
    reach them over the network."""
    out = ""
    for host in hosts.hosts:
        for name, port in (("pg", PG_PORT), ("rpc", rpc_port)):
            out += (f"\nfrontend {name}_{host.index}\n    bind {host.gateway}:{port}\n"
                    f"    default_backend {name}_machine\n")  # fmt: skip
    out += "\nbackend pg_machine\n    server pg 127.0.0.1:5432\n"
    out += f"\nbackend rpc_machine\n    server rpc 127.0.0.1:{rpc_port}\n"
    return out


async def test_a_host_dies_and_its_miners_move_to_the_other(
    bcoin: BcoinNode, tmp_path: Path
) -> None:
    payout = await asyncio.to_thread(bcoin.new_address)
    accounts = {"alice": payout, "bob": payout}
    with postgres_database() as dsn, Hosts(2) as hosts:
        backends = [(host.address, 3333) for host in hosts.hosts]
        proxy = HaproxyServer(backends, extra=forwarders(hosts, bcoin.rpc_port))
        await asyncio.to_thread(proxy.start)
        pools: list[ClusterProcess] = []
        miners: list[Miner] = []
        acked: Counter[str] = Counter()
        try:
            for host in hosts.hosts:
                host_dsn = dsn.replace("host=127.0.0.1 port=5432",
                                       f"host={host.gateway} port={PG_PORT}")  # fmt: skip
                url = bcoin.rpc_url.replace("127.0.0.1", host.gateway)
                text = cluster_config(
                    url=url, dsn=host_dsn, payout=payout, accounts=accounts,
                    node_id=host.index, processes=2 if host.index == 1 else 1,
                    host=host.address, port=3333,
                    top="ledger_interval = 0.5",
                    stratum=f'proxy_protocol = true\nproxy_networks = ["{hosts.network}"]\n'
                            "max_connections_per_ip = 1",
                )
                pool = ClusterProcess(tmp_path, text, name=f"host{host.index}",
                                      prefix=host.command([]))  # fmt: skip
                pools.append(pool)
                await asyncio.wait_for(asyncio.to_thread(pool.start), 150)

            names = rig_names(MINERS)
            miners = [counting_miner("127.0.0.1", proxy.port, name, acked, hashrate=3.0,
                                     reconnect_delay=0.3, local_host=f"127.0.0.{10 + i}")
                      for i, name in enumerate(names)]  # fmt: skip
            await wait_for(lambda: all(m.job is not None for m in miners), 60,
                           "every miner working through HAProxy")  # fmt: skip
            by_host = Counter(m.extranonce1[0] for m in miners)
            assert set(by_host) <= {1, 2}, by_host

            # The hosts count each miner by its own address: more connections from one
            # miner's address go over its cap of 1 (a cap per process: on host 1 the
            # second may land on the other process, so a few are opened).
            extras = []
            try:
                for n in range(6):
                    extra = Miner("127.0.0.1", proxy.port, f"alice.extra{n}", hashrate=0,
                                  local_host="127.0.0.10")  # fmt: skip
                    extra.start()
                    extras.append(extra)
                    with contextlib.suppress(AssertionError):
                        await wait_for(lambda: any(
                            "refusing 127.0.0.10: 1 connections from 127.0.0.10" in p.log()
                            for p in pools), 5)  # fmt: skip
                        break
                assert any("refusing 127.0.0.10: 1 connections from 127.0.0.10" in p.log()
                           for p in pools), "no host refused the miner's address"
            finally:
                for extra in extras:
                    await extra.stop()
            await wait_for(lambda: sum(LEADS in pool.log() for pool in pools) == 1, 30,
                           "exactly one host leading the ledger")  # fmt: skip

            await wait_for(lambda: sum(acked.values()) >= 30, 60, "30 answered shares")
            victim = max(by_host, key=lambda h: by_host[h])  # the host with more miners
            dead, alive = pools[victim - 1], pools[2 - victim]
            await asyncio.to_thread(dead.kill)  # the host's every process, SIGKILL
            at_kill = sum(acked.values())
            await wait_for(lambda: all(m.job is not None and m.extranonce1[0] != victim
                                       for m in miners), 30,
                           "every miner on the other host")  # fmt: skip
            await wait_for(lambda: sum(acked.values()) >= at_kill + 30, 60,
                           "30 more answered shares on the surviving host")  # fmt: skip
            await wait_for(lambda: LEADS in alive.log(), 30, "the surviving host leading")
        finally:
            for miner in miners:
                await miner.stop()
            for pool in pools:
                if pool.alive():
                    await asyncio.to_thread(pool.terminate)
                pool.kill()
            await asyncio.to_thread(proxy.stop)
        recorded = recorded_shares(dsn, payout)
    for name in names:
        assert recorded[name] >= acked[name], (name, recorded[name], acked[name])
