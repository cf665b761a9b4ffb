"""Where a new-block notify burst spends its time, in one pool process.

    python benchmarks/notify_profile.py [--connections 5000] [--rounds 3] [--top 25]

One `surplus pool` process (PoolApp, as a cluster worker runs it) on bcoin regtest and
PostgreSQL (tests/components), `--connections` miners from benchmarks/stratum_load.py's
generator in another process, then `generatetoaddress` from this orchestrating process,
`--rounds` times. The pool process stamps each step on CLOCK_MONOTONIC (shared by the
processes): which trigger saw the tip and when, each getblocktemplate round trip,
the job build, the fan-out (`StratumServer.on_job`), and the generator stamps the first
and the last `mining.notify` it read. The pool's event-loop thread runs under cProfile
from just before the block to the last notify received, so the profile says what the
loop did in that window, and `fan-out us/conn` is on_job's own time per connection
(CPU-bound and so a figure that a busy machine disturbs less than wall time).

Profiles go to --out (one .pstats per round, the last one printed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import multiprocessing as mp
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# the repository first: benchmarks/hashing.py must not shadow the hashing package
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stratum_load as load  # benchmarks/ is not a package: found through sys.path
from cluster import pool_toml


def pool_main(conn: Any, config_path: str, loop: str) -> None:
    from plumbing import eventloop

    load.raise_nofile()
    eventloop.run(_pool(conn, config_path), loop)  # type: ignore[arg-type]


class Stamps:
    """(monotonic time, what) pairs of one round."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.fanout: list[tuple[float, float, int]] = []  # start, end, sessions

    def add(self, what: str) -> None:
        self.events.append((time.monotonic(), what))


def _instrument(app: Any, stamps: Stamps) -> None:
    """Wrap the steps of the new-block path on this app instance to stamp them."""
    watcher, node, server = app.watcher, app.node, app.server
    check, gbt, on_job = watcher.check, node.getblocktemplate, server.on_job
    fanout_write = server._fanout.write

    async def timed_check(source: str = "manual", hint: str | None = None) -> bool:
        stamps.add(f"trigger {source}")
        changed = await check(source, hint)
        if changed:
            stamps.add(f"tip handled ({source})")
        return changed

    async def timed_gbt(longpollid: str | None = None) -> dict[str, Any]:
        kind = "longpoll" if longpollid else "gbt"
        stamps.add(f"{kind} sent")
        try:
            return await gbt(longpollid)
        finally:
            stamps.add(f"{kind} answered")

    def timed_on_job(job: Any) -> None:
        start = time.monotonic()
        stamps.add("fan-out start")
        on_job(job)
        end = time.monotonic()
        stamps.add("fan-out end")
        stamps.fanout.append((start, end, server.stats.last_fanout_sessions))

    def timed_fanout_write(batch: Any) -> Any:
        stamps.add(f"direct writes start ({len(batch)} connections)")
        return fanout_write(batch)

    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.monotonic()
        else:
            took = (time.monotonic() - gc_started[0]) * 1000
            if info["generation"] == 2 or took >= 1.0:
                stamps.add(f"garbage collection of generation {info['generation']} ended: "
                           f"{took:.1f} ms, {info['collected']} collected")

    gc.callbacks.append(on_gc)
    watcher.check = timed_check
    server._fanout.write = timed_fanout_write
    node.getblocktemplate = timed_gbt
    # the feed holds the bound method it subscribed; swap it there
    feed = app.feed
    feed._listeners = [timed_on_job if getattr(f, "__func__", None) is type(server).on_job
                       else f for f in feed._listeners]


async def _pool(conn: Any, config_path: str) -> None:
    from pool.app import PoolApp
    from pool.config import load as load_config

    stamps = Stamps()
    async with PoolApp(load_config(config_path)) as app:
        _instrument(app, stamps)
        conn.send({"pid": os.getpid(), "port": app.stratum_address[1]})
        profile: cProfile.Profile | None = None
        while True:
            cmd, arg = await asyncio.to_thread(conn.recv)
            if cmd == "arm":
                stamps.events.clear()
                stamps.fanout.clear()
                if arg:
                    profile = cProfile.Profile()
                    profile.enable()
                conn.send("armed")
            elif cmd == "disarm":
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(arg)
                    profile = None
                conn.send({"events": stamps.events, "fanout": stamps.fanout})
            elif cmd == "stop":
                conn.send("stopped")
                return


def _report_round(started: float, pool: dict[str, Any], gen: dict[str, Any]) -> float:
    """Print the round's steps relative to the generatetoaddress call."""
    print(f"  {0.0:8.1f} ms  generatetoaddress sent")
    for at, what in pool["events"]:
        print(f"  {(at - started) * 1000:8.1f} ms  {what}")
    first, last = gen["first"], gen["last"]
    print(f"  {(first - started) * 1000:8.1f} ms  first mining.notify received")
    print(f"  {(last - started) * 1000:8.1f} ms  last mining.notify received "
          f"({gen['received']} connections)")  # fmt: skip
    return (last - started) * 1000


def _profile_summary(path: str, top: int, sessions: int) -> None:
    stats = pstats.Stats(path)
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name == "on_job" and filename.endswith("server.py"):
            total = row[3]
            print(f"on_job: {total * 1000:.2f} ms cumulative CPU in the loop thread under "
                  f"cProfile, {total * 1e6 / max(1, sessions):.2f} us/conn "
                  f"({sessions} connections)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=tempfile.gettempdir())
    parser.add_argument("--no-cprofile", action="store_true",
                        help="stamps only: the times without the profiler's overhead")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    args = parser.parse_args()
    load.raise_nofile()
    from tests.components.bcoin import BcoinNode
    from tests.components.postgres import postgres_database

    ctx = mp.get_context("spawn")
    node = BcoinNode()
    node.start()
    procs: list[Any] = []
    try:
        payout = node.new_address()
        with postgres_database("surplus_bench") as dsn, tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pool.toml"
            path.write_text(pool_toml(payout, node.rpc_url, dsn, f'load0 = "{payout}"\n', 1))
            pool_end, pool_child = ctx.Pipe()
            pool = ctx.Process(target=pool_main, args=(pool_child, str(path), args.loop),
                               daemon=True)
            pool.start()
            procs.append(pool)
            hello = load.recv(pool_end, "pool process")
            gen_end, gen_child = ctx.Pipe()
            gen = ctx.Process(target=load.loadgen_main, daemon=True,
                              args=(gen_child, ("127.0.0.1", hello["port"]),
                                    args.connections, 1, 0, args.loop))  # fmt: skip
            gen.start()
            procs.append(gen)
            ready = load.recv(gen_end, "load generator")["ready"]
            assert ready == args.connections, ready
            time.sleep(1.0)  # the last subscriptions' jobs written
            totals = []
            for i in range(args.rounds):
                gen_end.send(("fanout", 10.0))
                assert load.recv(gen_end, "load generator") == "armed"
                pool_end.send(("arm", not args.no_cprofile))
                assert load.recv(pool_end, "pool process") == "armed"
                started = time.monotonic()
                node.rpc("generatetoaddress", 1, payout)
                arrivals = load.recv(gen_end, "load generator")
                out = str(Path(args.out) / f"notify_profile_{i}.pstats")
                pool_end.send(("disarm", out))
                stamps = load.recv(pool_end, "pool process")
                print(f"round {i + 1}:")
                totals.append(_report_round(started, stamps, arrivals))
                for start, end, sessions in stamps["fanout"]:
                    print(f"  fan-out to {sessions} sessions: {(end - start) * 1000:.1f} ms "
                          f"wall, {(end - start) * 1e6 / max(1, sessions):.2f} us/conn")
                time.sleep(0.5)
            if not args.no_cprofile:
                _profile_summary(out, args.top, args.connections)
            print("block -> last notify (ms):", ", ".join(f"{t:.1f}" for t in totals))
            gen_end.send(("stop", None))
            load.recv(gen_end, "load generator")
            pool_end.send(("stop", None))
            load.recv(pool_end, "pool process", timeout=60)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
