"""The pool across cores: accepted shares/s with 1 and with N Stratum processes sharing
one port through SO_REUSEPORT, in the same run, printed as a ratio.

    python benchmarks/cluster.py [--processes 2] [--connections 1000] [--duration 5]
                                 [--ledger sqlite] [--only shares|notify] [--in-flight 1]
                                 [--fanout-threads N]

Each pool process is what a cluster worker runs on its Stratum side: its own job feed
(an embedded devnet template here, so no node is the bottleneck), its own validator
thread, its own extranonce1 prefix (node 7, index i), listening on the shared port the
orchestrator reserved as `surplus pool`'s supervisor does (pool.cluster.supervisor).
Shares go to a counting sink: this measures the Stratum tier, not the ledger
(benchmarks/ledger.py measures PostgreSQL's group commits). With `--ledger sqlite` they
go to a SQLite ledger instead, as a pool answers them (`true` once committed): one
process writes its own file; N processes send their batches to one ledger writer
process (pool.ledger.writer_server, as pool.cluster.ledger_process runs it), so the
figures say what the single SQLite writer takes from the whole cluster. The load
generators are benchmarks/stratum_load.py's: every connection subscribes, authorizes,
pre-computes real shares and submits one at a time; the kernel spreads the connections
(from many loopback source addresses) over the listening processes.

On a 2-core machine the generators need cores too: the report says how many cores the
pools and the generators used, so a ratio below N reads against the cores there were.

Then (unless --no-notify) the real thing end to end: `surplus pool` with `processes = N`
on bcoin regtest and PostgreSQL (tests/components: a bcoin of its own, a database of its
own), `--notify-connections` (10,000) connections spread over the processes by the
kernel, and the time from `generatetoaddress` on the node to the last `mining.notify`
received by the generators (the workers follow the node by longpoll and poll, fetch the
template, build the job and fan it out; the clock is CLOCK_MONOTONIC, shared by the
processes), best and worst of a few blocks; and the workers' RSS per connection.

Where the CPU went: after each shares/s run a `cpu:` line gives the CPU seconds the
pool processes, PostgreSQL (every postgres process on the machine; the shares go to a
counting sink, so this is the server's other work) and the generators took over the
run's wall time, and the notify phase prints the same for the pool workers, the
generators and bcoin over its rounds. On 2 cores, these parties share the cores.

Loopback only; every phase is bounded in time.
The last line is `cluster: shares_per_s_1p=<n> shares_per_s_<N>p=<n> scaling=<ratio>
per_core_1p=<n> per_core_<N>p=<n> notify_10k_ms=<n> kib_per_conn=<n>` (per_core: shares
per second of pool CPU, which says whether the processes scale where the cores are
there to use; kib_per_conn from the real cluster when it ran).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# the repository first: benchmarks/hashing.py must not shadow the hashing package
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stratum_load as load  # benchmarks/ is not a package: found through sys.path

NODE_ID = 7


def pool_toml(payout: str, rpc_url: str, dsn: str, accounts: str, processes: int,
              fanout_threads: int | None = None) -> str:
    """The benchmark pool's config: bcoin regtest polled every 50 ms (and longpolled), no
    vardiff (every miner at a tiny difficulty), no bans, a PostgreSQL ledger."""
    threads = "" if fanout_threads is None else f"fanout_threads = {fanout_threads}\n"
    return f"""
mode = "pool"
network = "regtest"
payout_address = "{payout}"
node_id = {NODE_ID}
[node]
urls = ["{rpc_url}"]
poll_interval = 0.05
[stratum]
port = 0
processes = {processes}
{threads}max_connections_per_ip = 100000
subscribe_timeout = 300
authorize_timeout = 300
[stratum.vardiff]
enabled = false
initial = 1e-10
minimum = 1e-12
[stratum.ban]
enabled = false
[ledger]
backend = "postgres"
dsn = "{dsn}"
scheme = "pplns"
[accounts]
{accounts}"""


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine (postmaster, backends, background workers):
    the server is shared, so this is what the database took, whoever asked."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:  # gone meanwhile
                continue
    return pids


def cpu_total(pids: list[int]) -> float:
    """CPU seconds of `pids` (user + system, all threads); a process gone counts 0."""
    total = 0.0
    for pid in pids:
        try:
            total += load.cpu_seconds(pid)
        except OSError:
            continue
    return total


def cpu_snapshot(pool: list[int], gens: list[int], writer: int = 0) -> dict[str, float]:
    """CPU seconds so far of each party of a run (the SQLite ledger writer's when there
    is one), and the wall clock."""
    snapshot = {"pool": cpu_total(pool), "postgres": cpu_total(postgres_pids()),
                "generator": cpu_total(gens)}  # fmt: skip
    if writer:
        snapshot["ledger_writer"] = cpu_total([writer])
    snapshot["wall"] = time.monotonic()
    return snapshot


def cpu_line(before: dict[str, float], after: dict[str, float]) -> str:
    """`pool=..s postgres=..s generator=..s wall=..s` between two snapshots."""
    return " ".join(f"{key}={after[key] - before[key]:.2f}s" for key in after)


def ledger_config(path: Path) -> Any:
    from pool.ledger import LedgerConfig

    return LedgerConfig(backend="sqlite", path=path, fee_account="bench-fee")


def writer_main(conn: Any, db: Path, socket_path: Path, loop: str) -> None:
    """The SQLite cluster's ledger writer: the file's one writer, serving the workers."""
    from plumbing import eventloop

    eventloop.run(_writer(conn, db, socket_path), loop)  # type: ignore[arg-type]


async def _writer(conn: Any, db: Path, socket_path: Path) -> None:
    from pool.ledger import Ledger
    from pool.ledger.writer_server import WriterServer

    ledger = await Ledger.open(ledger_config(db))
    server = WriterServer(ledger, socket_path)
    await server.start()
    conn.send({"pid": os.getpid()})
    await asyncio.to_thread(conn.recv)  # "stop"
    await server.close()
    await ledger.close()
    conn.send("stopped")


def worker_main(conn: Any, port: int, index: int, max_connections: int, loop: str,
                db: Path | None = None, socket_path: Path | None = None) -> None:  # fmt: skip
    from plumbing import eventloop

    load.raise_nofile()
    eventloop.run(_worker(conn, port, index, max_connections, db, socket_path),
                  loop)  # type: ignore[arg-type]  # fmt: skip


async def _worker(conn: Any, port: int, index: int, max_connections: int,
                  db: Path | None, socket_path: Path | None) -> None:  # fmt: skip
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
    sink: Any = CountingSink()
    ledger: Any = None
    if db is not None:  # a SQLite ledger: its own file, or through the cluster's writer
        from pool.ledger import Ledger, LedgerSink

        ledger = await Ledger.open(ledger_config(db), writer_socket=socket_path)
        sink = LedgerSink(ledger)
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
            conn.send({"accepted": getattr(sink, "count", 0), "sessions": len(server.sessions),
                       "rss": load.rss_bytes(os.getpid())})  # fmt: skip
        elif cmd == "stop":
            await server.close(reconnect=False)
            if ledger is not None:
                await ledger.close()
            conn.send("stopped")
            return


def run(ctx: Any, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    from pool.cluster.supervisor import reserve_port

    reserved = reserve_port("127.0.0.1", 0)
    port = int(reserved.getsockname()[1])
    tmp = tempfile.TemporaryDirectory(prefix="surplus-bench-")
    db = socket_path = None
    writer: tuple[Any, Any] | None = None
    writer_pid = 0
    if args.ledger == "sqlite":
        db = Path(tmp.name) / "ledger.sqlite3"
        if processes > 1:
            socket_path = Path(tmp.name) / "ledger.sock"
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=writer_main, daemon=True,
                               args=(child, db, socket_path, args.loop))  # fmt: skip
            proc.start()
            writer = (proc, parent)
            writer_pid = load.recv(parent, "ledger writer")["pid"]
    workers = []
    for index in range(processes):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker_main, daemon=True,
                           args=(child, port, index, args.connections + 100, args.loop,
                                 db, socket_path))  # fmt: skip
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
                                 / args.connections) + 1 + args.in_flight)  # fmt: skip
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

    gen_pids = [p.pid for p, _ in gens]
    party0 = cpu_snapshot(pids, gen_pids, writer_pid)
    writer_cpu0 = load.cpu_seconds(writer_pid) if writer_pid else 0.0
    cpu0 = [load.cpu_seconds(pid) for pid in pids] + [load.cpu_seconds(p.pid) for p, _ in gens]
    t0 = time.monotonic()
    for _, a in gens:
        a.send(("load", (args.duration, args.warmup, 0.0, args.in_flight)))
    results = [load.recv(a, "load generator") for _, a in gens]
    elapsed = time.monotonic() - t0
    cpu1 = [load.cpu_seconds(pid) for pid in pids] + [load.cpu_seconds(p.pid) for p, _ in gens]
    party = cpu_line(party0, cpu_snapshot(pids, gen_pids, writer_pid))
    cores = [(b - a) / elapsed for a, b in zip(cpu0, cpu1, strict=True)]
    writer_cores = (load.cpu_seconds(writer_pid) - writer_cpu0) / elapsed if writer_pid else 0.0

    for p, a in gens:
        a.send(("stop", None))
        load.recv(a, "load generator")
        p.join(5)
    for proc, parent in workers:
        parent.send("stop")
        load.recv(parent, "pool process")
        proc.join(10)
    if writer is not None:
        writer[1].send("stop")
        load.recv(writer[1], "ledger writer")
        writer[0].join(10)
    reserved.close()
    tmp.cleanup()

    seconds = max(r["seconds"] for r in results)
    accepted = sum(r["accepted"] for r in results)
    return {
        "processes": processes,
        "shares_per_s": accepted / seconds,
        "rejected": sum(r["rejected"] for r in results),
        "pool_cores": sum(cores[:processes]),
        "gen_cores": sum(cores[processes:]),
        "writer_cores": writer_cores,
        "kib_per_conn": kib_per_conn,
        "spread": Counter({i: n for i, n in enumerate(spread)}),
        "cpu": party,
    }


def notify(ctx: Any, args: argparse.Namespace) -> dict[str, float]:
    """New block on bcoin -> last mining.notify received, through a real cluster."""
    import re
    import subprocess

    from tests.components.bcoin import ROOT, BcoinNode
    from tests.components.postgres import postgres_database

    node = BcoinNode()
    node.start()
    supervisor: subprocess.Popen[str] | None = None
    gens: list[tuple[Any, Any]] = []
    try:
        payout = node.new_address()
        with postgres_database("surplus_bench") as dsn, tempfile.TemporaryDirectory() as tmp:
            accounts = "".join(f'load{i} = "{payout}"\n' for i in range(args.generators))
            config = Path(tmp) / "cluster.toml"
            config.write_text(pool_toml(payout, node.rpc_url, dsn, accounts, args.processes,
                                        args.fanout_threads))
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "surplus.cli", "pool", "--config", str(config),
                 "--log-level", "ERROR"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
            )
            assert supervisor.stdout is not None
            pids, port = [], 0
            for line in supervisor.stdout:
                ready = re.search(r"process \d+: ready on [\d.]+:\d+, pid (\d+)", line)
                if ready:
                    pids.append(int(ready.group(1)))
                listening = re.search(r"stratum listening on [\d.]+:(\d+)", line)
                if listening:
                    port = int(listening.group(1))
                    break
            assert port and len(pids) == args.processes, "the cluster did not start"
            base = sum(load.rss_bytes(pid) for pid in pids)
            count = args.notify_connections
            per = [count // args.generators + (1 if i < count % args.generators else 0)
                   for i in range(args.generators)]  # fmt: skip
            for i, n in enumerate(per):
                a, b = ctx.Pipe()
                p = ctx.Process(target=load.loadgen_main, daemon=True,
                                args=(b, ("127.0.0.1", port), n, 1, i, args.loop))
                p.start()
                gens.append((p, a))
            ready_counts = [load.recv(a, "load generator")["ready"] for _, a in gens]
            assert sum(ready_counts) == count, ready_counts
            time.sleep(1.0)  # the last subscriptions' jobs written
            kib = (sum(load.rss_bytes(pid) for pid in pids) - base) / count / 1024
            rounds = []
            gen_pids = [p.pid for p, _ in gens]
            node_pid = [node.proc.pid] if node.proc is not None else []
            spent = {"pool": 0.0, "generator": 0.0, "node": 0.0}
            for _ in range(args.fanout_rounds):
                for _, a in gens:
                    a.send(("fanout", 10.0))
                for _, a in gens:
                    assert load.recv(a, "load generator") == "armed"
                before = (cpu_total(pids), cpu_total(gen_pids), cpu_total(node_pid))
                started = time.monotonic()
                node.rpc("generatetoaddress", 1, payout)
                arrivals = [load.recv(a, "load generator") for _, a in gens]
                after = (cpu_total(pids), cpu_total(gen_pids), cpu_total(node_pid))
                for key, b, a in zip(spent, before, after, strict=True):
                    spent[key] += a - b
                received = sum(r["received"] for r in arrivals)
                last = max(r["last"] for r in arrivals)
                rounds.append(((last - started) * 1000 if last else float("nan"), received))
                time.sleep(0.5)
            for p, a in gens:
                a.send(("stop", None))
                load.recv(a, "load generator")
                p.join(5)
            gens.clear()
            supervisor.terminate()
            supervisor.wait(60)
    finally:
        for p, _ in gens:
            p.kill()
        if supervisor is not None and supervisor.poll() is None:
            os.killpg(supervisor.pid, 9)
            supervisor.wait(10)
        node.stop()
    times = [ms for ms, _ in rounds]
    print(f"cpu over the {len(rounds)} notify rounds (block to the generators' report): "
          + " ".join(f"{k}={v:.2f}s" for k, v in spent.items()))
    print("notify rounds (ms, received):", ", ".join(f"{ms:.1f}/{n}" for ms, n in rounds))
    return {"notify_ms": min(times), "notify_worst_ms": max(times),
            "received": min(n for _, n in rounds), "kib_per_conn": kib}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="N, compared with 1")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--generators", type=int, default=2, help="load processes")
    # above what two processes answer here: a generator that runs out of pre-computed
    # shares caps the rate it measures (at 40,000 two processes stopped at ~37,000)
    parser.add_argument("--expected-rate", type=float, default=100_000,
                        help="shares/s to pre-compute for")
    parser.add_argument("--in-flight", type=int, default=1,
                        help="shares each generator connection keeps submitted (1: as a "
                             "miner does; more: fewer reads and writes per share on both "
                             "sides, a proxy's pattern)")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    parser.add_argument("--no-notify", action="store_true",
                        help="skip the end-to-end new block -> notify phase (bcoin, PostgreSQL)")
    parser.add_argument("--notify-connections", type=int, default=10_000)
    parser.add_argument("--fanout-rounds", type=int, default=3)
    parser.add_argument("--fanout-threads", type=int, default=None,
                        help="the workers' stratum.fanout_threads (default: the config's)")
    parser.add_argument("--only", choices=["shares", "notify"],
                        help="run one part: the shares/s comparison or the new block -> "
                             "notify phase (the last line then carries that part's fields)")
    parser.add_argument("--ledger", choices=["none", "sqlite"], default="none",
                        help="where shares go: a counting sink, or a SQLite ledger (with N "
                        "processes through one ledger writer process)")
    args = parser.parse_args()
    if args.connections + 200 > load.raise_nofile():
        print("RLIMIT_NOFILE is too low for that many connections")
        return 2
    ctx = mp.get_context("spawn")
    n = args.processes
    fields = []
    kib = float("nan")
    if args.only != "notify":
        one = run(ctx, 1, args)
        many = run(ctx, n, args)
        for r in (one, many):
            r["per_core"] = r["shares_per_s"] / max(r["pool_cores"], 1e-9)
            print(f"{int(r['processes'])} process(es): {r['shares_per_s']:.0f} accepted "
                  f"shares/s ({r['per_core']:.0f} per pool core-second), rejected "
                  f"{int(r['rejected'])}; cores used: pools {r['pool_cores']:.2f}"
                  + (f" (+ ledger writer {r['writer_cores']:.2f})" if r["writer_cores"] else "")
                  + f", generators {r['gen_cores']:.2f}; connections per process "
                  f"{dict(r['spread'])}; {r['kib_per_conn']:.2f} KiB/conn")
            sink = ("a SQLite ledger" if args.ledger == "sqlite" else "a counting sink")
            print(f"cpu: {r['cpu']} ({int(r['processes'])} process(es); the shares go to "
                  f"{sink}, so postgres is the shared server's other work)")
        scaling = many["shares_per_s"] / max(one["shares_per_s"], 1e-9)
        fields += [f"shares_per_s_1p={one['shares_per_s']:.0f}",
                   f"shares_per_s_{n}p={many['shares_per_s']:.0f}", f"scaling={scaling:.2f}",
                   f"per_core_1p={one['per_core']:.0f}", f"per_core_{n}p={many['per_core']:.0f}"]
        kib = many["kib_per_conn"]
    if not args.no_notify and args.only != "shares":
        r = notify(ctx, args)
        kib = r["kib_per_conn"]
        print(f"new block on bcoin -> last mining.notify received, {args.notify_connections} "
              f"connections over {n} processes: {r['notify_ms']:.1f} ms (worst "
              f"{r['notify_worst_ms']:.1f}; {int(r['received'])} received); "
              f"{kib:.2f} KiB/conn in the workers")  # fmt: skip
        fields.append(f"notify_10k_ms={r['notify_ms']:.1f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other "
          "jobs on the machine take cores the processes would use)")
    fields.append(f"kib_per_conn={kib:.2f}")
    print(f"\ncluster: {' '.join(fields)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
