"""A real `surplus pool` cluster for tests: the supervisor as a process of its own, its
stdout read on a thread (worker ready lines, metrics URLs, the listening line), its log
in a file; stopped with SIGTERM, or killed with its workers (pool_process.PoolProcess
kills the whole process group)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pool.ledger import LedgerConfig, open_store
from rigsim.miner import Miner
from tests.components.bcoin import ROOT
from tests.stratum.pool_process import PoolProcess
from tests.stratum.stratum_harness import counting_miner
from tests.waiting import wait_for, wait_for_sync

LISTENING = re.compile(r"^surplus pool: stratum listening on ([\d.]+):(\d+)")
READY = re.compile(r"^surplus pool process (\d+): ready on [\d.]+:\d+, pid (\d+), "
                   r"extranonce1 prefix ([0-9a-f]+)")  # fmt: skip
STATS_API = re.compile(r"^surplus pool: stats API on (http://[\d.]+:\d+)/api")
METRICS = re.compile(r"^surplus pool process (\d+): metrics on (http://\S+)")
WRITER = re.compile(r"^surplus pool ledger writer: ready on (\S+), pid (\d+)")


def cluster_config(*, url: str, dsn: str, payout: str, accounts: dict[str, str],
                   node_id: int = 7, processes: int = 2, stratum: str = "",
                   ledger: str = "", top: str = "", extra: str = "", host: str = "127.0.0.1",
                   port: int = 0, sqlite: Path | None = None) -> str:  # fmt: skip
    """A pool-mode cluster on a real node and PostgreSQL (or the SQLite file `sqlite`);
    every hash is a share."""
    account_lines = "".join(f'{name} = "{address}"\n' for name, address in accounts.items())
    backend = (f'backend = "sqlite"\npath = "{sqlite}"' if sqlite is not None
               else f'backend = "postgres"\ndsn = "{dsn}"')  # fmt: skip
    return f"""
mode = "pool"
network = "regtest"
payout_address = "{payout}"
node_id = {node_id}
startup_timeout = 30
{top}

[node]
urls = ["{url}"]
poll_interval = 0.05

[stratum]
host = "{host}"
port = {port}
processes = {processes}
{stratum}

[stratum.vardiff]
enabled = false
initial = 1e-10
minimum = 1e-12

[ledger]
{backend}
scheme = "pplns"
{ledger}

[accounts]
{account_lines}

[metrics]
listen = "127.0.0.1:0"
{extra}
"""


class ClusterProcess(PoolProcess):
    """PoolProcess for a cluster's supervisor: its stdout read on a thread for as long as
    it runs (restarted workers print again), and the command run through `prefix`
    (`ip netns exec NS` for a host of its own)."""

    listening = LISTENING  # the supervisor's lines, not its workers'
    stats_api = STATS_API

    def __init__(self, tmp: Path, config_text: str, name: str = "cluster",
                 prefix: list[str] | None = None) -> None:  # fmt: skip
        super().__init__(tmp, config_text, name=name)
        self.prefix = prefix or []
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 120.0) -> ClusterProcess:
        """Start; return once the supervisor says the cluster listens (blocking)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "surplus.cli", "pool", "--config",
             str(self.config)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log_path.open("w"), text=True,
            start_new_session=True, env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            wants_stats = "[stats_api]" in self.config.read_text()
            wait_for_sync(lambda: (self.port and (self.stats_url or not wants_stats))
                          or not self.alive(), timeout, "the listening lines")  # fmt: skip
        except AssertionError:
            self.kill()
            raise
        if not self.port:
            raise AssertionError(f"the cluster did not start:\n{self.log()[-3000:]}")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self.note(line)

    def workers(self) -> dict[int, tuple[int, str]]:
        """process index -> (pid, extranonce1 prefix hex), the latest ready line of each."""
        out: dict[int, tuple[int, str]] = {}
        for line in list(self.lines):
            match = READY.search(line)
            if match:
                out[int(match.group(1))] = (int(match.group(2)), match.group(3))
        return out

    def writer_pid(self) -> int | None:
        """The SQLite ledger writer's pid, from its latest ready line."""
        pids = [int(m.group(2)) for m in map(WRITER.search, list(self.lines)) if m]
        return pids[-1] if pids else None

    def metrics_urls(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for line in list(self.lines):
            match = METRICS.search(line)
            if match:
                out[int(match.group(1))] = match.group(2)
        return out

    def __enter__(self) -> ClusterProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
        if self._reader is not None:
            self._reader.join(5)


async def mine_through(cluster: ClusterProcess, names: list[str], acked: Counter[str],
                       hashrate: float, prefixes: set[str]) -> tuple[list[Miner], Counter[str]]:
    """Counting miners on the cluster's port, every one working, spread by the kernel over
    the processes whose extranonce1 prefixes (hex) are `prefixes`; the miners, and how
    many each prefix got. The caller stops them."""
    miners = [counting_miner("127.0.0.1", cluster.port, name, acked, hashrate=hashrate,
                             reconnect_delay=0.2) for name in names]  # fmt: skip
    try:
        await wait_for(lambda: all(m.job is not None for m in miners), 30,
                       "every miner working")  # fmt: skip
        by_process = Counter(m.extranonce1[:2].hex() for m in miners)
        assert set(by_process) <= prefixes, by_process
        if len(by_process) < len(prefixes):
            pytest.fail(f"the kernel gave the connections to fewer processes: {by_process}")
    except BaseException:
        for miner in miners:
            await miner.stop()
        raise
    return miners, by_process


LEADER = re.compile(r"^surplus_pool_ledger_leader\{[^}]*\} (\S+)$", re.M)


def leaders(cluster: ClusterProcess) -> dict[int, float]:
    """process index -> its surplus_pool_ledger_leader (absent while it restarts)."""
    out: dict[int, float] = {}
    for index, url in cluster.metrics_urls().items():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                match = LEADER.search(response.read().decode())
        except OSError:
            continue
        if match:
            out[index] = float(match.group(1))
    return out


def recorded_shares(dsn: str, fee_account: str, sqlite: Path | None = None) -> Counter[str]:
    """Shares in the cluster's ledger, by worker (each `true` must be among them)."""
    config = (LedgerConfig(backend="sqlite", path=sqlite, fee_account=fee_account) if sqlite
              else LedgerConfig(backend="postgres", dsn=dsn, fee_account=fee_account))  # fmt: skip
    store = open_store(config)
    try:
        return Counter(share.worker for _, share in store.shares())
    finally:
        store.close()
