"""The SQLite cluster's ledger writer at saturation: shares per second one writer process
commits and acknowledges for several pool processes, and the CPU it takes.

    python benchmarks/ledger_writer.py [--clients 2] [--sessions 200] [--batch 8]
                                       [--seconds 5]

A writer process (pool.ledger.writer_server in front of a SQLite ledger, as
pool.cluster.ledger_process runs it) and --clients client processes, each a pool process's
`Ledger` over pool.ledger.remote: --sessions coroutines each awaiting
`record_shares(batch of --batch)` back to back (closed loop: the writer saturated, every
ack after its commit). Without the Stratum tier in front, this is the ceiling the one
writer puts on a cluster (benchmarks/cluster.py --ledger sqlite measures the whole path).

The last line is `ledger_writer: shares_per_s=<n> writer_cores=<n> clients=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stratum_load as load  # benchmarks/ is not a package: found through sys.path
from cluster import writer_main


def client_main(conn: Any, db: Path, socket_path: Path, sessions: int, batch: int,
                seconds: float) -> None:  # fmt: skip
    conn.send(asyncio.run(_client(db, socket_path, sessions, batch, seconds)))


async def _client(db: Path, socket_path: Path, sessions: int, batch: int,
                  seconds: float) -> dict[str, float]:  # fmt: skip
    from cluster import ledger_config

    from pool.ledger import Ledger, Share

    ledger = await Ledger.open(ledger_config(db), writer_socket=socket_path)
    done = 0
    failed = 0
    deadline = time.monotonic() + seconds

    async def session(i: int) -> None:
        nonlocal done, failed
        shares = [Share(f"acct{i % 50}", f"acct{i % 50}.rig{i}", Fraction(1, 1000), "1a",
                        500, time.time()) for _ in range(batch)]  # fmt: skip
        while time.monotonic() < deadline:
            try:
                await ledger.record_shares(shares)
                done += batch
            except Exception:
                failed += batch

    started = time.monotonic()
    await asyncio.gather(*(session(i) for i in range(sessions)))
    elapsed = time.monotonic() - started
    await ledger.close()
    return {"shares": done, "failed": failed, "seconds": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2, help="pool processes")
    parser.add_argument("--sessions", type=int, default=200, help="awaiting batches each")
    parser.add_argument("--batch", type=int, default=8, help="shares per request")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="surplus-bench-") as tmp:
        db, socket_path = Path(tmp) / "ledger.sqlite3", Path(tmp) / "ledger.sock"
        a, b = ctx.Pipe()
        writer = ctx.Process(target=writer_main, daemon=True,
                             args=(b, db, socket_path, "auto"))  # fmt: skip
        writer.start()
        writer_pid = load.recv(a, "ledger writer")["pid"]
        cpu0 = load.cpu_seconds(writer_pid)
        t0 = time.monotonic()
        clients = []
        for _ in range(args.clients):
            c, d = ctx.Pipe()
            proc = ctx.Process(target=client_main, daemon=True, args=(
                d, db, socket_path, args.sessions, args.batch, args.seconds))  # fmt: skip
            proc.start()
            clients.append((proc, c))
        results = [load.recv(c, "client") for _, c in clients]
        elapsed = time.monotonic() - t0
        writer_cores = (load.cpu_seconds(writer_pid) - cpu0) / elapsed
        a.send("stop")
        load.recv(a, "ledger writer")
        writer.join(10)
    shares = sum(r["shares"] for r in results)
    seconds = max(r["seconds"] for r in results)
    rate = shares / seconds
    print(f"{args.clients} clients x {args.sessions} sessions x {args.batch} shares: "
          f"{rate:.0f} shares/s committed and acknowledged by one writer "
          f"({sum(r['failed'] for r in results)} failed); writer used {writer_cores:.2f} "
          f"cores over the run (client start-up included)")  # fmt: skip
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other "
          "jobs on the machine take cores the processes would use)")
    print(f"\nledger_writer: shares_per_s={rate:.0f} writer_cores={writer_cores:.2f} "
          f"clients={args.clients}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
