"""Durability under SIGKILL: the pool runs as its own process (`surplus pool --config`),
miners submit as fast as they can, the pool is killed with SIGKILL mid-stream, and every
share it answered `true` to must be in the ledger afterwards — SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from pool.bitcoin.address import script_to_address
from pool.ledger import LedgerConfig, open_store
from rigsim.miner import Miner
from tests.components.postgres import postgres_database
from tests.stratum.stratum_harness import counting_miner

from .support import start_pool

pytestmark = [pytest.mark.integration]

PAYOUT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
WORKERS = ("alice.rig1", "bob.rig1", "carol.rig7")
ACCOUNTS = {name: script_to_address(bytes([0, 20, i]) + bytes(19), "regtest")
            for i, name in enumerate(("alice", "bob", "carol"), start=1)}  # fmt: skip
KILL_AFTER = 300  # acknowledged shares before the kill


def write_config(path: Path, ledger: dict[str, str]) -> None:
    ledger_lines = "\n".join(f'{key} = "{value}"' for key, value in ledger.items())
    accounts_lines = "\n".join(f'{key} = "{value}"' for key, value in ACCOUNTS.items())
    path.write_text(
        f"""
mode = "pool"
network = "regtest"
payout_address = "{PAYOUT}"

[node]
devnet = true
difficulty = "1"          # no share here is ever a block: only shares flow

[stratum]
port = 0

[stratum.vardiff]
enabled = false
initial = 0.0000002384185791015625   # 2**-22: a share every ~1024 hashes
minimum = 0.0000000001

[ledger]
{ledger_lines}
scheme = "pplns"
commit_delay_ms = 2

[accounts]
{accounts_lines}
"""
    )


async def run_and_kill(config: Path, log: Path) -> Counter[str]:
    """Mine through a pool process, SIGKILL it mid-stream; the `true` answers per worker."""
    proc, port = await asyncio.wait_for(asyncio.to_thread(start_pool, config, log), 90)
    acked: Counter[str] = Counter()
    miners: list[Miner] = []
    try:
        for worker in WORKERS:
            miners.append(counting_miner("127.0.0.1", port, worker, acked, hashrate=60_000,
                                         reconnect_delay=5))  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while sum(acked.values()) < KILL_AFTER:
            assert loop.time() < deadline, f"only {sum(acked.values())} shares acknowledged"
            assert proc.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.01)
        in_flight = sum(m.stats.shares_found for m in miners) - sum(acked.values())
        os.kill(proc.pid, signal.SIGKILL)  # while the miners keep submitting
        await asyncio.to_thread(proc.wait, 10)
        assert proc.returncode == -signal.SIGKILL
        assert in_flight >= 0
    finally:
        for miner in miners:
            await miner.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return acked


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_sigkill_loses_no_acknowledged_share(backend: str, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            dsn = stack.enter_context(postgres_database())
            ledger = {"backend": "postgres", "dsn": dsn}
        else:
            ledger = {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
        config = tmp_path / "pool.toml"
        write_config(config, ledger)
        acked = await run_and_kill(config, tmp_path / "pool.log")

        store = open_store(LedgerConfig(**ledger, fee_account=PAYOUT))
        try:
            recorded = Counter(share.worker for _, share in store.shares())
        finally:
            store.close()
    assert sum(acked.values()) >= KILL_AFTER
    assert set(acked) == set(WORKERS)
    for worker in WORKERS:
        # Every `true` is in the ledger; a few more may be there (committed, but the
        # answer died with the process).
        assert recorded[worker] >= acked[worker], (worker, recorded[worker], acked[worker])
    print(f"{backend}: acknowledged {dict(acked)}, in the ledger {dict(recorded)}")
    assert sum(recorded.values()) - sum(acked.values()) < 200
