"""Ledger benchmark: durable shares per second, and the latency the ledger adds to a
submit's `true` at the goal load.

Per backend (SQLite: WAL on a real file, `synchronous` as configured; PostgreSQL on
127.0.0.1:5432 in a throw-away database, synchronous_commit as configured):

1. throughput: --sessions coroutines each awaiting `record_share` back to back (closed
   loop, the ledger saturated); acknowledged shares per second is the sustained durable
   rate, every ack coming after its commit.
2. latency at the goal load: GOAL_RATE shares/s offered open loop (arrivals never wait
   for answers) through the Stratum server's own path: the shares that arrived in each
   ~1 ms tick are one validated batch, a task awaits `LedgerSink.record_shares(batch)`
   and then answers every share of it, as `StratumServer._record` does. Latency runs from
   a share's submit to its answer. The identical run against a sink that returns at once
   (the server without a ledger) is the baseline; baseline and ledger runs alternate,
   --repeats of each, so a busy spell of the shared machine is seen in both.
   --loop-us adds that much pure-Python work per share on the event loop (the parsing,
   checks and answers of a real server), which the writer threads must share the GIL with.

Reported p99 is over every share of every ledger run pooled (a stall in one run counts;
no run is dropped), at GOAL_RATE offered, not at saturation: at saturation the tail is
queueing for throughput, not what a miner sees at the stated load. It is the whole
submit -> `true` time of the ledger path, so it bounds the added latency from above (the
baseline's own p99 is printed beside it).

The last line is machine-readable:
  ledger: sqlite_shares_per_s=<n> postgres_shares_per_s=<n> p99_added_ms=<n>
p99_added_ms is the worse of the two backends' pooled p99 at GOAL_RATE shares/s offered.

Usage: .venv/bin/python benchmarks/ledger.py [--seconds 4] [--repeats 3] [--sessions 1000]
       [--backends sqlite,postgres] [--synchronous FULL|NORMAL] [--loop-us 0] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from pool.ledger import Ledger, LedgerConfig, LedgerSink, Share
from pool.shares.accepted import AcceptedShare

GOAL_RATE = 20_000  # shares/s into each backend
GOAL_P99_MS = 10.0
TICK_S = 0.001  # the open-loop generator's step: one validated batch per tick
ADMIN_DSN = os.environ.get("SURPLUS_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres")
DEFAULTS = LedgerConfig(fee_account="pool")


class Sink(Protocol):
    async def record_shares(self, shares: Sequence[AcceptedShare]) -> Any: ...


class NoLedgerSink:
    """The server's path without a ledger: the awaited call returns at once."""

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> None:
        return None


def sample_shares(n: int = 1024) -> list[Share]:
    """Shares as a pool produces them: a few hundred accounts, integer and fractional
    vardiff values. Built once so the benchmark measures the ledger, not object creation."""
    now = time.time()
    difficulties = [Fraction(65536), Fraction(1024), Fraction(1, 1000), Fraction(3, 7)]
    return [
        Share(
            account=f"rb1qaccount{i % 300:04d}", worker=f"rig{i % 40}",
            difficulty=difficulties[i % len(difficulties)], job_id=f"{i % 16:x}",
            height=840_000, time=now, is_block=False,
        )
        for i in range(n)
    ]


def sample_accepted(n: int = 1024) -> list[AcceptedShare]:
    """The Stratum server's records of accepted shares (float difficulties, as vardiff
    sets them); the sink converts them exactly, as it does in the pool."""
    now = time.time()
    difficulties = [65536.0, 1024.0, 0.001, 3 / 7]
    return [
        AcceptedShare(
            worker=f"rb1qaccount{i % 300:04d}.rig{i % 40}", username=f"rb1qaccount{i % 300:04d}",
            difficulty=difficulties[i % len(difficulties)], share_difficulty=1e9,
            job_id=f"{i % 16:x}", height=840_000, is_block=False, block_hash=None,
            remote="127.0.0.1", time=now,
        )
        for i in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def saturate(ledger: Ledger, shares: list[Share], sessions: int, seconds: float) -> dict:
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    acked = 0

    async def session(k: int) -> None:
        nonlocal acked
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            await ledger.record_share(shares[i % len(shares)])
            latencies.append(time.perf_counter() - t0)
            acked += 1
            i += sessions

    commits0 = ledger.commits
    start = time.perf_counter()
    await asyncio.gather(*(session(k) for k in range(sessions)))
    elapsed = time.perf_counter() - start
    commits = ledger.commits - commits0
    return {
        "rate": acked / elapsed, "acked": acked, "commits": commits,
        "batch": acked / max(commits, 1),
        "p50": percentile(latencies, 0.50) * 1e3, "p99": percentile(latencies, 0.99) * 1e3,
    }


def spin(seconds: float) -> None:
    """Pure-Python work that holds the GIL the way a busy event loop does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def paced(
    sink: Sink, records: list[AcceptedShare], seconds: float, rate: float, loop_us: float
) -> dict:
    """Open loop at `rate` shares/s. Each tick the shares due so far are one batch: a task
    awaits the sink and then answers them, as the Stratum server does; arrivals never wait
    for answers. Latency: submit -> answer, per share."""
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    clock = time.perf_counter
    failures: list[BaseException] = []

    async def record(batch: list[AcceptedShare], t0: float) -> None:
        try:
            await sink.record_shares(batch)
        except Exception as exc:  # a failed commit must fail the benchmark
            failures.append(exc)
            return
        done = clock() - t0
        latencies.extend([done] * len(batch))

    start = clock()
    stop = start + seconds
    sent = 0
    n = len(records)
    while (now := clock()) < stop:
        due = int((now - start) * rate)
        if due > sent:
            count = due - sent
            if loop_us:
                spin(count * loop_us / 1e6)
            batch = [records[(sent + i) % n] for i in range(count)]
            task = asyncio.get_running_loop().create_task(record(batch, now))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent = due
        await asyncio.sleep(TICK_S)
    if tasks:
        await asyncio.wait(list(tasks))
    if failures:
        raise failures[0]
    elapsed = clock() - start
    return {"offered": rate, "achieved": len(latencies) / elapsed, "latencies": latencies}


def summarize(runs: list[dict]) -> dict:
    pooled = [x for run in runs for x in run["latencies"]]
    return {
        "offered": runs[0]["offered"],
        "achieved": sum(r["achieved"] for r in runs) / len(runs),
        "shares": len(pooled),
        "p50": percentile(pooled, 0.50) * 1e3,
        "p99": percentile(pooled, 0.99) * 1e3,
        "max": max(pooled, default=float("nan")) * 1e3,
        "run_p99": [percentile(r["latencies"], 0.99) * 1e3 for r in runs],
    }


async def run_backend(
    config: LedgerConfig, sessions: int, seconds: float, freeze: bool, repeats: int,
    loop_us: float,
) -> dict:
    shares = sample_shares()
    records = sample_accepted()
    async with await Ledger.open(config) as ledger:
        sink = LedgerSink(ledger)
        await ledger.record_shares(shares[:100])  # warm the connection and the pages
        if freeze:
            # What a latency-sensitive server does after start-up: move the start-up heap
            # out of the collector's reach, so a full collection does not walk every
            # imported object (a ~50 ms stop of the whole process here).
            gc.collect()
            gc.freeze()
        sat = await saturate(ledger, shares, sessions, seconds)
        await paced(sink, records, 1.0, GOAL_RATE, loop_us)  # settle into the steady state
        base_runs, runs = [], []
        commits0 = ledger.commits
        ledger_time = 0.0
        for _ in range(repeats):
            base_runs.append(await paced(NoLedgerSink(), records, seconds / 2, GOAL_RATE, loop_us))
            t = time.perf_counter()
            runs.append(await paced(sink, records, seconds, GOAL_RATE, loop_us))
            ledger_time += time.perf_counter() - t
        commit_rate = (ledger.commits - commits0) / ledger_time
    return {
        "saturation": sat, "goal": summarize(runs), "base": summarize(base_runs),
        "commit_rate": commit_rate,
    }


def report(name: str, result: dict, seconds: float, loop_us: float) -> None:
    sat, goal, base = result["saturation"], result["goal"], result["base"]
    print(f"{name}:")
    print(
        f"  sustained durable rate {sat['rate']:>9,.0f} shares/s   goal >= {GOAL_RATE:,}"
        f"   measured/goal {sat['rate'] / GOAL_RATE:5.2f}x"
    )
    print(
        f"    (saturation: {sat['acked']:,} acks in {sat['commits']:,} commits, "
        f"{sat['batch']:.0f} shares per commit; latency there p50 {sat['p50']:.2f} ms "
        f"p99 {sat['p99']:.2f} ms: queueing at full throughput)"
    )
    print(
        f"  at {goal['offered']:,.0f} shares/s offered ({goal['achieved']:,.0f} answered/s, "
        f"{result['commit_rate']:,.0f} commits/s, loop work {loop_us:g} us/share): "
        f"submit -> true p50 {goal['p50']:.2f} ms  p99 {goal['p99']:.2f} ms   "
        f"goal p99 < {GOAL_P99_MS:.0f} ms   measured/goal {goal['p99'] / GOAL_P99_MS:5.2f}"
    )
    print(
        f"    (p99 over all {goal['shares']:,} shares of {len(goal['run_p99'])} runs of "
        f"{seconds:g} s; per run "
        + ", ".join(f"{p:.2f}" for p in goal["run_p99"])
        + f" ms; max {goal['max']:.1f} ms)"
    )
    print(
        f"    (same path without a ledger, interleaved: p50 {base['p50']:.2f} ms "
        f"p99 {base['p99']:.2f} ms, per run "
        + ", ".join(f"{p:.2f}" for p in base["run_p99"])
        + " ms: what the event loop and the shared machine add by themselves)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="length of the saturation phase and of each goal-load run")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (a real disk)")
    parser.add_argument("--synchronous", default=DEFAULTS.sqlite_synchronous,
                        choices=["FULL", "NORMAL"],
                        help="SQLite: FULL survives power loss, NORMAL a process crash")
    parser.add_argument("--pg-synchronous-commit", default=DEFAULTS.pg_synchronous_commit,
                        choices=["on", "off"],
                        help="PostgreSQL share writers: on survives a server or machine "
                        "crash, off only a crash of the pool process")
    parser.add_argument("--repeats", type=int, default=3,
                        help="goal-load runs per backend (pooled for the p99)")
    parser.add_argument("--commit-delay-ms", type=float, default=DEFAULTS.commit_delay_ms,
                        help="0: pipelined group commit (a batch goes as soon as a writer "
                        "is free)")
    parser.add_argument("--pg-writers", type=int, default=DEFAULTS.pg_writer_connections,
                        help="PostgreSQL share-writer connections")
    parser.add_argument("--loop-us", type=float, default=0.0,
                        help="pure-Python work on the event loop per share (a busy server)")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="leave the start-up heap to the garbage collector")
    args = parser.parse_args()
    backends = args.backends.split(",")
    results: dict[str, dict] = {}
    print(
        f"ledger benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"throughput with {args.sessions} closed-loop sessions for {args.seconds:g} s; "
        f"latency at {GOAL_RATE:,} shares/s offered open loop, {args.repeats} x "
        f"{args.seconds:g} s; group commit delay {args.commit_delay_ms:g} ms"
        f"{' (pipelined)' if args.commit_delay_ms == 0 else ''}; gc.freeze() after "
        f"start-up: {'no' if args.no_gc_freeze else 'yes'}"
    )
    common = {
        "fee_account": "pool", "commit_delay_ms": args.commit_delay_ms,
    }

    def run(config: LedgerConfig) -> dict:
        return asyncio.run(run_backend(
            config, args.sessions, args.seconds, not args.no_gc_freeze, args.repeats,
            args.loop_us,
        ))

    labels: dict[str, str] = {}
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="surplus-ledger-bench-") as d:
            results["sqlite"] = run(LedgerConfig(
                backend="sqlite", path=Path(d) / "ledger.sqlite3",
                sqlite_synchronous=args.synchronous, **common,
            ))
        survives = "kill -9 and power loss" if args.synchronous == "FULL" else "kill -9"
        labels["sqlite"] = f"sqlite (WAL, synchronous={args.synchronous}: survives {survives})"
        report(labels["sqlite"], results["sqlite"], args.seconds, args.loop_us)

    if "postgres" in backends:
        dbname = f"surplus_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{ADMIN_DSN} dbname=postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
        try:
            results["postgres"] = run(LedgerConfig(
                backend="postgres", dsn=f"{ADMIN_DSN} dbname={dbname}",
                pg_writer_connections=args.pg_writers,
                pg_synchronous_commit=args.pg_synchronous_commit, **common,
            ))
        finally:
            with psycopg.connect(f"{ADMIN_DSN} dbname=postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        survives = ("kill -9, server and power loss" if args.pg_synchronous_commit == "on"
                    else "kill -9 of the pool")
        labels["postgres"] = (
            f"postgres (one INSERT per group commit, {args.pg_writers} writer connections, "
            f"synchronous_commit={args.pg_synchronous_commit}: survives {survives})"
        )
        report(labels["postgres"], results["postgres"], args.seconds, args.loop_us)

    print(
        f"summary (measured next to the goal; rate: measured/goal, >= 1 meets it; "
        f"p99 at {GOAL_RATE:,} shares/s offered: measured/goal, < 1 meets it):"
    )
    print(f"  {'backend':<9} {'shares/s':>9} {'goal':>7} {'ratio':>6}   "
          f"{'p99 ms':>7} {'goal':>6} {'ratio':>6}   met")
    for name, result in results.items():
        rate, p99 = result["saturation"]["rate"], result["goal"]["p99"]
        met = rate >= GOAL_RATE and p99 < GOAL_P99_MS
        print(
            f"  {name:<9} {rate:>9,.0f} {GOAL_RATE:>7,} {rate / GOAL_RATE:>5.2f}x   "
            f"{p99:>7.2f} {GOAL_P99_MS:>6.1f} {p99 / GOAL_P99_MS:>6.2f}   "
            f"{'yes' if met else 'NO'}"
        )

    def rate(name: str) -> str:
        return f"{results[name]['saturation']['rate']:.0f}" if name in results else "nan"

    p99 = max((r["goal"]["p99"] for r in results.values()), default=float("nan"))
    print(
        f"ledger: sqlite_shares_per_s={rate('sqlite')} postgres_shares_per_s={rate('postgres')} "
        f"p99_added_ms={p99:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
