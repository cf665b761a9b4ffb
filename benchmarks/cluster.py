"""The pool across cores: accepted shares/s with 1 and with N Stratum processes sharing
one port through SO_REUSEPORT, in the same run, printed as a ratio.

    python benchmarks/cluster.py [--processes 2] [--connections 1000] [--duration 5]

Each pool process is what a cluster worker runs on its Stratum side: its own job feed
(an embedded devnet template here, so no node is the bottleneck), its own validator
thread, its own extranonce1 prefix (node 7, index i), listening on the shared port the
orchestrator reserved as `surplus pool`'s supervisor does (pool.cluster.supervisor).
Shares go to a counting sink: this measures the Stratum tier, not the ledger
(benchmarks/ledger.py measures PostgreSQL's group commits). The load generators are
benchmarks/stratum_load.py's: every connection subscribes, authorizes, pre-computes real
shares and submits one at a time; the kernel spreads the connections (from many loopback
source addresses) over the listening processes.

On a 2-core machine the generators need cores too: the report says how many cores the
pools and the generators used, so a ratio below N reads against the cores there were.
Loopback only; every phase is bounded in time.
The last line is `cluster: shares_per_s_1p=<n> shares_per_s_<N>p=<n> scaling=<ratio>
per_core_1p=<n> per_core_<N>p=<n> kib_per_conn=<n>` (per_core: shares per second of
pool CPU, which says whether the processes scale where the cores are there to use).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stratum_load as load  # benchmarks/ is not a package: found through sys.path

NODE_ID = 7


def worker_main(conn: Any, port: int, index: int, max_connections: int, loop: str) -> None:
    from plumbing import eventloop

    load.raise_nofile()
    eventloop.run(_worker(conn, port, index, max_connections), loop)  # type: ignore[arg-type]


async def _worker(conn: Any, port: int, index: int, max_connections: int) -> None:
    from pool.jobs import JobFactory
    from pool.jobs.factory import TemplateWork
    from pool.node.devnet import DevnetNode
    from pool.shares.accepted import CountingSink
    from pool.stratum.config import StratumConfig
    from pool.stratum.jobfeed import JobFeed
    from pool.stratum.server import StratumServer
    from pool.stratum.slots import process_prefix

    node = DevnetNode(mempool_txs=100)
    feed = JobFeed(JobFactory(bytes.fromhex("0014" + "77" * 20)))
    feed.publish_template(TemplateWork.from_gbt(await node.getblocktemplate()), clean_jobs=True)
    sink = CountingSink()
    config = StratumConfig(
        host="127.0.0.1", port=port, max_connections=max_connections, backlog=4096,
        extranonce1_prefix=process_prefix(NODE_ID, index).hex(),
        subscribe_timeout=120, write_buffer_limit=4 << 20, ban={"enabled": False},
        vardiff={"enabled": False, "initial": load.SHARE_DIFFICULTY,
                 "minimum": load.SHARE_DIFFICULTY},
    )  # fmt: skip
    server = StratumServer(config, feed, node, sink, reuse_port=True)
    await server.start()
    import gc

    gc.collect()
    gc.freeze()
    conn.send({"pid": os.getpid(), "address": server.address})
    while True:
        cmd = await asyncio.to_thread(conn.recv)
        if cmd == "stats":
            conn.send({"accepted": sink.count, "sessions": len(server.sessions),
                       "rss": load.rss_bytes(os.getpid())})  # fmt: skip
        elif cmd == "stop":
            await server.close(reconnect=False)
            conn.send("stopped")
            return


def run(ctx: Any, processes: int, args: argparse.Namespace) -> dict[str, float]:
    from pool.cluster.supervisor import reserve_port

    reserved = reserve_port("127.0.0.1", 0)
    port = int(reserved.getsockname()[1])
    workers = []
    for index in range(processes):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker_main, daemon=True,
                           args=(child, port, index, args.connections + 100, args.loop))
        proc.start()
        workers.append((proc, parent))
    hellos = [load.recv(parent, "pool process") for _, parent in workers]
    pids = [h["pid"] for h in hellos]
    base = []
    for _, parent in workers:
        parent.send("stats")
        base.append(load.recv(parent, "pool process"))

    count = args.generators
    per = [args.connections // count + (1 if i < args.connections % count else 0)
           for i in range(count)]  # fmt: skip
    shares_per_conn = max(4, int(args.expected_rate * (args.duration + args.warmup)
                                 / args.connections) + 2)  # fmt: skip
    gens = []
    for i, n in enumerate(per):
        a, b = ctx.Pipe()
        p = ctx.Process(target=load.loadgen_main, daemon=True,
                        args=(b, ("127.0.0.1", port), n, shares_per_conn, i, args.loop))
        p.start()
        gens.append((p, a))
    ready = [load.recv(a, "load generator") for _, a in gens]
    assert sum(r["ready"] for r in ready) == args.connections, ready
    spread = []
    idle = []
    for _, parent in workers:
        parent.send("stats")
        idle.append(load.recv(parent, "pool process"))
        spread.append(idle[-1]["sessions"])
    kib_per_conn = sum(i["rss"] - b["rss"] for i, b in zip(idle, base, strict=True)) / max(
        1, args.connections) / 1024

    cpu0 = [load.cpu_seconds(pid) for pid in pids] + [load.cpu_seconds(p.pid) for p, _ in gens]
    t0 = time.monotonic()
    for _, a in gens:
        a.send(("load", (args.duration, args.warmup)))
    results = [load.recv(a, "load generator") for _, a in gens]
    elapsed = time.monotonic() - t0
    cpu1 = [load.cpu_seconds(pid) for pid in pids] + [load.cpu_seconds(p.pid) for p, _ in gens]
    cores = [(b - a) / elapsed for a, b in zip(cpu0, cpu1, strict=True)]

    for p, a in gens:
        a.send(("stop", None))
        load.recv(a, "load generator")
        p.join(5)
    for proc, parent in workers:
        parent.send("stop")
        load.recv(parent, "pool process")
        proc.join(10)
    reserved.close()

    seconds = max(r["seconds"] for r in results)
    accepted = sum(r["accepted"] for r in results)
    return {
        "processes": processes,
        "shares_per_s": accepted / seconds,
        "rejected": sum(r["rejected"] for r in results),
        "pool_cores": sum(cores[:processes]),
        "gen_cores": sum(cores[processes:]),
        "kib_per_conn": kib_per_conn,
        "spread": Counter({i: n for i, n in enumerate(spread)}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="N, compared with 1")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--generators", type=int, default=2, help="load processes")
    parser.add_argument("--expected-rate", type=float, default=40_000,
                        help="shares/s to pre-compute for")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    args = parser.parse_args()
    if args.connections + 200 > load.raise_nofile():
        print("RLIMIT_NOFILE is too low for that many connections")
        return 2
    ctx = mp.get_context("spawn")
    one = run(ctx, 1, args)
    many = run(ctx, args.processes, args)
    for r in (one, many):
        r["per_core"] = r["shares_per_s"] / max(r["pool_cores"], 1e-9)
        print(f"{int(r['processes'])} process(es): {r['shares_per_s']:.0f} accepted shares/s "
              f"({r['per_core']:.0f} per pool core-second), rejected {int(r['rejected'])}; "
              f"cores used: pools {r['pool_cores']:.2f}, "
              f"generators {r['gen_cores']:.2f}; connections per process "
              f"{dict(r['spread'])}; {r['kib_per_conn']:.2f} KiB/conn")
    n = args.processes
    scaling = many["shares_per_s"] / max(one["shares_per_s"], 1e-9)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other "
          "jobs on the machine take cores the processes would use)")
    print(f"\ncluster: shares_per_s_1p={one['shares_per_s']:.0f} "
          f"shares_per_s_{n}p={many['shares_per_s']:.0f} scaling={scaling:.2f} "
          f"per_core_1p={one['per_core']:.0f} per_core_{n}p={many['per_core']:.0f} "
          f"kib_per_conn={many['kib_per_conn']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
