"""Stratum load: one pool process on the embedded devnet against C miner connections.

    python benchmarks/stratum_load.py [--connections 1000,10000] [--duration 5]

Processes (multiprocessing, spawn): the pool (devnet node + block watcher + job factory
+ Stratum server + share sink, as pool.app composes them) and several load generators,
so the generator is never the bottleneck of the pool's single event loop. Every
connection subscribes and authorizes through rigsim's StratumClient; the generators
then pre-compute valid shares (real SHA-256d at difficulty 2**-32, where all but one
hash in 65536 is a share; block-solving hashes are left out) and submit them over
loopback, one outstanding share per connection like a real miner. Measured:

- accepted shares/s end to end (submit -> validator thread -> sink -> `true`);
- submit -> reply latency p50/p99 at that load;
- new block -> last mining.notify written, for all C connections (the pool mines a real
  devnet block; the watcher's longpoll sees it; a clean job fans out), and the time
  the last client received it;
- pool RSS per idle connection (subscribed, authorized, holding a job).

With `--stats-workers N` (e.g. 100000) it measures instead what the stats cost the
miners: connections authorize up to 256 worker names each and submit for them in turn,
so the pool's worker book holds N workers; submit -> reply latency is measured without
and then during reads of /metrics, /api/v1/workers (a 1,000-row page),
/api/v1/workers/{one} and /api/v1/pool (a round every 0.25 s, `--scrape-interval`;
Prometheus reads /metrics every 15 s), at an offered load below saturation
(`--stats-rate`, 5,000 shares/s: latency then shows what blocks the loop, not a queue).
Goal: share answers p99 < 50 ms during the scrapes (issue 12: 552 ms with 100,000
workers before the book was kept incrementally).
Its last line is `stratum-stats: workers=<n> p99_ms=<n> p99_scraping_ms=<n> ...`.

Loopback only; each phase is bounded in time, so the run stops by itself.
The last line is `stratum: shares_per_s=<n> notify_10k_ms=<n> kib_per_conn=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing as mp
import os
import resource
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFERENCE = {  # measured on this 2-core machine under the same kind of load (issue 3)
    "ckpool": {"shares_per_s": 40_000, "fanout_ms": 150, "kib_per_conn": 6.3},
    "public-pool": {"shares_per_s": 3_200, "fanout_ms": 600, "kib_per_conn": 10.0},
}
GOAL = {"shares_per_s": 20_000, "fanout_ms": 100, "kib_per_conn": 10.0,
        "p99_scraping_ms": 50.0}
WORKERS_PER_CONN = 256  # the pool's default max_workers_per_connection
SHARE_DIFFICULTY = 2.0**-32  # target 0xffff << 240: all but 1 hash in 65536 is a share


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# ====================================================================== pool process


def pool_main(conn: Any, mempool_txs: int, max_connections: int, loop: str,
              fanout_threads: int, stats_workers: int = 0) -> None:
    from plumbing import eventloop

    raise_nofile()
    profile = os.environ.get("STRATUM_LOAD_PROFILE")
    if not profile:
        eventloop.run(_pool(conn, mempool_txs, max_connections, fanout_threads,
                            stats_workers), loop)  # type: ignore[arg-type]
        return
    import cProfile

    cProfile.runctx("asyncio.run(_pool(conn, mempool_txs, max_connections, threads))",
                    globals(), {"conn": conn, "mempool_txs": mempool_txs,
                                "max_connections": max_connections,
                                "threads": fanout_threads}, profile)


async def _pool(conn: Any, mempool_txs: int, max_connections: int,
                fanout_threads: int, stats_workers: int = 0) -> None:
    from pool.jobs import JobFactory
    from pool.jobs.factory import TemplateWork
    from pool.node.devnet import DevnetNode
    from pool.node.watcher import BlockWatcher
    from pool.shares.accepted import CountingSink
    from pool.stratum.config import StratumConfig
    from pool.stratum.jobfeed import JobFeed
    from pool.stratum.server import StratumServer

    node = DevnetNode(mempool_txs=mempool_txs)  # regtest bits: a block is ~2 hashes
    feed = JobFeed(JobFactory(bytes.fromhex("0014" + "77" * 20)))
    timings: dict[str, float] = {}

    async def new_block(block_hash: str) -> None:
        template = await node.getblocktemplate()
        timings["published"] = time.monotonic()
        feed.publish_template(TemplateWork.from_gbt(template), clean_jobs=True)
        timings["written"] = time.monotonic()

    sink = CountingSink()
    config = StratumConfig(
        host="127.0.0.1", port=0, max_connections=max_connections, backlog=4096,
        subscribe_timeout=120, write_buffer_limit=4 << 20, fanout_threads=fanout_threads,
        ban={"enabled": False}, vardiff={"enabled": False, "initial": SHARE_DIFFICULTY,
                                         "minimum": SHARE_DIFFICULTY},
    )
    observed: dict[str, Any] = {}
    metrics = None
    if stats_workers:  # the pool's metrics and stats API, wired as pool.app wires them
        from plumbing.endpoint import MetricsEndpoint
        from pool.metrics.config import MetricsSection
        from pool.metrics.registry import PoolMetrics
        from pool.stats_api import PoolView, StatsApi

        section = MetricsSection(max_tracked_workers=max(100_000, stats_workers))
        metrics = PoolMetrics(section, process_metrics=False)
        server = StratumServer(config, feed, node, metrics.wrap_sink(sink))
        metrics.attach(server)
    else:
        server = StratumServer(config, feed, node, sink)
    await new_block("")
    await server.start()
    if metrics is not None:
        endpoint = MetricsEndpoint(metrics.registry)
        host, port = await endpoint.start("127.0.0.1", 0)
        observed["metrics"] = f"http://{host}:{port}/metrics"
        api = StatsApi(PoolView(server, metrics.workers))
        host, port = await api.start("127.0.0.1", 0)
        observed["api"] = f"http://{host}:{port}/api/v1"
    watcher = BlockWatcher(node, new_block, None, poll_interval=0.1, refresh_interval=None,
                           longpoll=True, announce_initial=False)
    watcher_task = asyncio.get_running_loop().create_task(watcher.run())
    loop = asyncio.get_running_loop()
    select_time = _time_select(loop)
    lag = _watch_loop(loop)
    import gc

    gc.collect()  # as pool.app does once it is up: what lives as long as the pool is
    gc.freeze()   # kept out of every collection
    conn.send({"address": server.address, "pid": os.getpid(), **observed})
    while True:
        cmd = await asyncio.to_thread(conn.recv)
        if cmd == "stats":
            conn.send({"accepted": sink.count, "rejected": dict(server.stats.rejected),
                       "sessions": len(server.sessions), "rss": rss_bytes(os.getpid()),
                       "workers": 0 if metrics is None else len(metrics.workers),
                       "batches": server.validator.batches, "hashed": server.validator.hashed,
                       "select_s": select_time[0], "loop_lag_ms": lag["max_ms"],
                       "gc_max_ms": lag["gc_max_ms"], "loop_cpu_ms": lag["cpu_max_ms"]})
            lag.update(max_ms=0.0, gc_max_ms=0.0, cpu_max_ms=0.0)
        elif cmd == "block":
            timings.clear()
            mined = await _mine_block(node, feed)
            for _ in range(500):
                if "written" in timings:
                    break
                await asyncio.sleep(0.01)
            conn.send({"mined": mined, **timings, "fanout_ms": server.stats.last_fanout_ms,
                       "fanout_sessions": server.stats.last_fanout_sessions})
        elif cmd == "stop":
            watcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher_task
            await server.close(reconnect=False)
            conn.send("stopped")
            return


def _watch_loop(loop: Any) -> dict[str, float]:
    """The longest stall of the event loop (a 5 ms tick arriving late), the most CPU the
    loop's thread spent between two ticks (its own work, not time the machine gave to
    other processes), and the longest garbage-collector pause, since the last `stats`."""
    import gc

    out = {"max_ms": 0.0, "gc_max_ms": 0.0, "cpu_max_ms": 0.0}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            out["gc_max_ms"] = max(out["gc_max_ms"], (time.perf_counter() - started[0]) * 1e3)

    gc.callbacks.append(on_gc)

    async def tick() -> None:
        while True:
            t, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            out["max_ms"] = max(out["max_ms"], (time.perf_counter() - t - 0.005) * 1e3)
            out["cpu_max_ms"] = max(out["cpu_max_ms"], (time.thread_time() - cpu) * 1e3)

    loop.create_task(tick())
    return out


def _time_select(loop: Any) -> list[float]:
    """Accumulate the time the event loop waits in select(): its idle time."""
    total = [0.0]
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return total
    select = selector.select

    def timed(timeout: float | None = None) -> Any:
        t = time.perf_counter()
        try:
            return select(timeout)
        finally:
            total[0] += time.perf_counter() - t

    selector.select = timed
    return total


async def _mine_block(node: Any, feed: Any) -> float:
    """Solve the current template ourselves (regtest bits) and submit it to the devnet:
    the block the miners' fan-out is timed from. Returns when the node accepted it."""
    import hashing

    job = feed.current
    en1, en2 = b"\xff" * 4, b"\xee" * job.extranonce2_size
    header76 = job.header(en1, en2, job.ntime, 0, job.version)[:76]
    nonce = hashing.scan_nonces(header76, job.network_target, 0, 256)[0]
    header = header76 + struct.pack("<I", nonce)
    started = time.monotonic()
    result = await node.submitblock(job.block(en1, en2, header).hex())
    if result is not None:
        raise RuntimeError(f"devnet rejected the benchmark's block: {result}")
    return started


# ====================================================================== load generator


class FastConn(asyncio.Protocol):
    """The submit phase of one connection: pre-encoded lines, `gen.in_flight` shares in
    flight (1 by default, as a miner submits). The answers a read brings are checked
    line by line (`"result":true` accepted, `"error":[` rejected) without JSON parsing,
    and unpaced, the shares that replace them go out in one write."""

    __slots__ = ("gen", "lines", "next", "notify_at", "rest", "sent_at", "transport")

    def __init__(self, gen: LoadGen, transport: asyncio.Transport) -> None:
        self.gen = gen
        self.transport = transport
        self.lines: list[bytes] = []
        self.next = 0
        self.sent_at = 0.0
        self.notify_at = 0.0
        self.rest = b""

    def data_received(self, data: bytes) -> None:
        if self.rest:
            data = self.rest + data
        parts = data.split(b"\n")
        self.rest = parts.pop()
        gen = self.gen
        answered = ok = 0
        for line in parts:
            if b'"method":"mining.notify"' in line:
                self.notify_at = time.monotonic()
                gen.notified += 1
            elif b'"result":true' in line:
                gen.accepted += 1
                ok += 1
            elif b'"error":[' in line:
                gen.rejected += 1
                if len(gen.errors) < 5:
                    gen.errors.append(line[:300].decode(errors="replace"))
                answered += 1
        answered += ok
        if answered:
            if ok and gen.recording:  # since the last write: the share it carried
                gen.latencies.append(time.monotonic() - self.sent_at)
            if gen.interval:
                for _ in range(answered):
                    self.answered()
            else:
                self.send_next(answered)

    def answered(self) -> None:
        """The next share (paced) one interval after the previous was sent."""
        loop = asyncio.get_running_loop()
        interval = self.gen.interval
        loop.call_at(max(loop.time(), self.sent_at - time.monotonic() + loop.time() + interval),
                     self.send_next)

    def send_next(self, count: int = 1) -> None:
        """Write the next `count` shares in one write."""
        gen = self.gen
        if not gen.running:
            return
        start = self.next
        if start + count > len(self.lines):
            gen.idle += 1  # ran out of pre-computed shares while the load was on
            count = len(self.lines) - start
            if count <= 0:
                return
        self.sent_at = time.monotonic()
        self.transport.write(self.lines[start] if count == 1
                             else b"".join(self.lines[start:start + count]))
        self.next = start + count
        gen.sent += count

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost += 1


class LoadGen:
    def __init__(self) -> None:
        self.conns: list[FastConn] = []
        self.running = False
        self.interval = 0.0  # seconds between one connection's shares (0: unpaced)
        self.in_flight = 1  # shares a connection keeps submitted (unpaced)
        self.recording = False
        self.accepted = self.rejected = self.sent = self.idle = self.lost = 0
        self.notified = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []


def loadgen_main(conn: Any, address: tuple[str, int], count: int, shares_per_conn: int,
                 index: int, loop: str, workers_per_conn: int = 1) -> None:
    from plumbing import eventloop

    raise_nofile()
    eventloop.run(_loadgen(conn, tuple(address), count, shares_per_conn, index,
                           workers_per_conn), loop)  # type: ignore[arg-type]


async def _loadgen(conn: Any, address: tuple[str, int], count: int, shares_per_conn: int,
                   index: int, workers_per_conn: int = 1) -> None:
    from rigsim.miner import MiningJob, StratumClient

    gen = LoadGen()
    host, port = address
    jobs: dict[int, MiningJob] = {}
    clients: list[StratumClient] = []
    workers: list[list[str]] = []

    async def handshake(i: int) -> None:
        state: dict[str, Any] = {"diff": 1.0}
        ready = asyncio.Event()

        def note(method: str, params: list) -> None:
            if method == "mining.set_difficulty":
                state["diff"] = float(params[0])
            elif method == "mining.notify":
                state["notify"] = params
                ready.set()

        local = f"127.0.{index + 1}.{1 + i % 250}"
        client = await StratumClient.connect(host, port, note, local_addr=(local, 0),
                                             timeout=30)
        sub = await client.call("mining.subscribe", ["stratum-load/1.0"], timeout=60)
        en1, en2_size = bytes.fromhex(sub[1]), int(sub[2])
        names = [f"load{index}.c{i}"] + [f"load{index}.c{i}.w{k}"
                                          for k in range(1, workers_per_conn)]
        for name in names[1:]:
            client.send("mining.authorize", [name, "x"])
        ok = await client.call("mining.authorize", [names[0], "x"], timeout=60)
        assert ok is True
        await asyncio.wait_for(ready.wait(), 60)
        clients.append(client)
        workers.append(names)
        jobs[len(clients) - 1] = MiningJob.from_notify(state["notify"], state["diff"], en1,
                                                       en2_size)

    for start in range(0, count, 250):
        await asyncio.gather(*(handshake(i) for i in range(start, min(count, start + 250))))

    # Pre-compute shares: every hash meets the share target; skip block-solving ones so
    # the devnet is not flooded with real blocks during the throughput phase.
    from pool.bitcoin.target import bits_to_target, difficulty_to_target

    started = time.monotonic()
    for k, client in enumerate(clients):
        job = jobs[k]
        network = bits_to_target(job.nbits)
        share_target = difficulty_to_target(job.difficulty)
        lines = []
        req_id = 1000
        for s in range(shares_per_conn):
            en2 = (s + 1).to_bytes(job.extranonce2_size, "big")
            header76 = job.header76(en2, job.ntime, job.version)
            nonce = 0
            while True:  # a share (all but 1 in 65536 hashes are), and not a block
                value = int.from_bytes(sha256d(header76 + struct.pack("<I", nonce)), "little")
                if network < value <= share_target:
                    break
                nonce += 1
            req_id += 1
            lines.append(
                b'{"id":%d,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}\n'
                % (req_id, workers[k][s % len(workers[k])].encode(), job.job_id.encode(),
                   en2.hex().encode(), job.ntime, nonce)
            )
        fast = FastConn(gen, client.transport)
        fast.lines = lines
        client.transport.set_protocol(fast)
        gen.conns.append(fast)
    conn.send({"ready": len(gen.conns), "precompute_s": time.monotonic() - started})

    while True:
        cmd, arg = await asyncio.to_thread(conn.recv)
        if cmd == "fanout":
            before = gen.notified
            for fast in gen.conns:
                fast.notify_at = 0.0
            conn.send("armed")
            deadline = time.monotonic() + arg
            while gen.notified - before < len(gen.conns) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            arrivals = [f.notify_at for f in gen.conns if f.notify_at]
            conn.send({"received": len(arrivals), "last": max(arrivals, default=0.0),
                       "notified": gen.notified - before,
                       "first": min(arrivals, default=0.0)})
        elif cmd == "load":
            duration, warmup, *rest = arg
            gen.interval = rest[0] if rest else 0.0
            gen.in_flight = 1 if gen.interval or len(rest) < 2 else max(1, int(rest[1]))
            gen.running = True
            gen.idle = 0
            for fast in gen.conns:
                fast.send_next(gen.in_flight)
            await asyncio.sleep(warmup)
            a0, t0 = gen.accepted, time.monotonic()
            gen.recording = True
            await asyncio.sleep(duration)
            a1, t1 = gen.accepted, time.monotonic()
            gen.recording = False
            gen.running = False
            await asyncio.sleep(0.5)  # let the shares in flight come back
            conn.send({"accepted": a1 - a0, "seconds": t1 - t0, "rejected": gen.rejected,
                       "latencies": gen.latencies, "ran_dry": gen.idle, "lost": gen.lost,
                       "errors": gen.errors})
            gen.latencies = []
        elif cmd == "stop":
            for fast in gen.conns:
                fast.transport.abort()
            conn.send("stopped")
            return


# ====================================================================== orchestration


def recv(conn: Any, what: str, timeout: float = 600.0) -> Any:
    """A reply from a child process, or a clear error instead of waiting forever."""
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer from the {what} within {timeout:.0f} s")
    return conn.recv()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ratio(measured: float, reference: float, higher_is_better: bool) -> str:
    if measured <= 0 or reference <= 0:
        return "n/a"
    r = measured / reference if higher_is_better else reference / measured
    return f"{r:.2f}x"


def stop_all(parent: Any, pool: Any, gens: list[tuple[Any, Any]]) -> None:
    """Stop the load generators, then the pool, and wait for their processes."""
    for p, a in gens:
        a.send(("stop", None))
        recv(a, "load generator")
        p.join(5)
    parent.send("stop")
    recv(parent, "pool")
    pool.join(10)


def run_scenario(ctx: Any, connections: int, args: argparse.Namespace) -> dict[str, float]:
    parent, child = ctx.Pipe()
    pool = ctx.Process(target=pool_main,
                       args=(child, args.mempool_txs, connections + 100, args.loop,
                             args.fanout_threads), daemon=True)
    pool.start()
    hello = recv(parent, "pool")
    address = tuple(hello["address"])
    pool_pid = hello["pid"]
    parent.send("stats")
    base = recv(parent, "pool")
    procs = max(1, min(args.generators, connections // 50))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    expected = args.expected_rate * (args.duration + args.warmup)
    shares_per_conn = max(4, int(expected / connections) + 2)
    gens = []
    for i, n in enumerate(per):
        a, b = ctx.Pipe()
        p = ctx.Process(target=loadgen_main,
                        args=(b, address, n, shares_per_conn, i, args.loop), daemon=True)
        p.start()
        gens.append((p, a))
    ready = [recv(a, "load generator") for _, a in gens]
    assert sum(r["ready"] for r in ready) == connections, ready
    time.sleep(0.5)
    parent.send("stats")
    idle = recv(parent, "pool")
    kib_per_conn = (idle["rss"] - base["rss"]) / connections / 1024

    # throughput first: the pre-computed shares are for the current job
    parent.send("stats")
    before = recv(parent, "pool")
    cpu0 = [cpu_seconds(pool_pid)] + [cpu_seconds(p.pid) for p, _ in gens]
    t_cpu0 = time.monotonic()
    for _, a in gens:
        a.send(("load", (args.duration, args.warmup)))
    results = [recv(a, "load generator") for _, a in gens]
    cpu1 = [cpu_seconds(pool_pid)] + [cpu_seconds(p.pid) for p, _ in gens]
    cpu_share = [(b - a) / (time.monotonic() - t_cpu0) for a, b in zip(cpu0, cpu1, strict=True)]
    parent.send("stats")
    after = recv(parent, "pool")
    time.sleep(0.3)

    # then new block -> notify to every connection (a few rounds, best and worst reported)
    fanouts = []
    for _ in range(args.fanout_rounds):
        for _, a in gens:
            a.send(("fanout", 10.0))
        for _, a in gens:
            assert recv(a, "load generator") == "armed"
        parent.send("block")
        block = recv(parent, "pool")
        arrivals = [recv(a, "load generator") for _, a in gens]
        received = sum(r["received"] for r in arrivals)
        if args.verbose:
            print("arrivals", arrivals, block)
        last = max(r["last"] for r in arrivals)
        fanouts.append({
            "written_ms": (block["written"] - block["mined"]) * 1000,
            "loop_ms": block["fanout_ms"],
            "received_ms": (last - block["mined"]) * 1000 if last else float("nan"),
            "received": received,
            "sessions": block["fanout_sessions"],
        })
        time.sleep(0.3)
    stop_all(parent, pool, gens)

    seconds = max(r["seconds"] for r in results)
    accepted = sum(r["accepted"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    if args.verbose:
        gen_cores = " ".join(f"{c:.2f}" for c in cpu_share[1:])
        print(f"cores used during load: pool {cpu_share[0]:.2f}, generators {gen_cores}; "
              f"pool loop waiting in select {after['select_s'] - before['select_s']:.2f} s")
        print("pool stats after load:", after, "\ngenerators:",
              [{k: v for k, v in r.items() if k != "latencies"} for r in results],
              "\nfan-out rounds:", fanouts)
    out = {
        "connections": connections,
        "shares_per_s": accepted / seconds,
        "pool_accepted": after["accepted"] - before["accepted"],
        "rejected": sum(r["rejected"] for r in results),
        "p50_ms": pct(latencies, 0.50) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "ran_dry": sum(r["ran_dry"] for r in results),
        "fanout_written_ms": min(f["written_ms"] for f in fanouts),
        "fanout_written_worst_ms": max(f["written_ms"] for f in fanouts),
        "fanout_loop_ms": min(f["loop_ms"] for f in fanouts),
        "fanout_received_ms": min(f["received_ms"] for f in fanouts),
        "fanout_received": min(f["received"] for f in fanouts),
        "kib_per_conn": kib_per_conn,
        "pool_cores": cpu_share[0],
        "per_core": accepted / seconds / max(cpu_share[0], 1e-9),
        "batches": after["batches"] - before["batches"],
        "hashed": after["hashed"] - before["hashed"],
    }
    return out


class Scraper(threading.Thread):
    """Reads the pool's stats endpoints, one round every `interval` seconds (0: back to
    back) until stopped, timing each read."""

    def __init__(self, urls: list[tuple[str, str]], interval: float) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.interval = interval
        self.stop = threading.Event()
        self.times: dict[str, list[float]] = {name: [] for name, _ in urls}
        self.sizes: dict[str, int] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            round_started = time.monotonic()
            for name, url in self.urls:
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(url, timeout=30) as response:
                        self.sizes[name] = len(response.read())
                except OSError as exc:
                    self.errors.append(f"{name}: {exc}")
                    continue
                self.times[name].append(time.perf_counter() - started)
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - round_started)))


def run_stats_scenario(ctx: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Share answers while the stats endpoints are read, with `args.stats_workers`
    workers in the book."""
    workers = args.stats_workers
    connections = -(-workers // WORKERS_PER_CONN)
    parent, child = ctx.Pipe()
    pool = ctx.Process(target=pool_main,
                       args=(child, args.mempool_txs, connections + 100, args.loop,
                             args.fanout_threads, workers), daemon=True)
    pool.start()
    hello = recv(parent, "pool")
    address = tuple(hello["address"])
    procs = max(1, min(args.generators, connections // 50))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    warm_s = 8.0
    seconds = warm_s + 2 * (args.duration + args.warmup + 1)
    shares_per_conn = WORKERS_PER_CONN + int(1.5 * args.expected_rate * seconds / connections)
    gens = []
    for i, n in enumerate(per):
        a, b = ctx.Pipe()
        p = ctx.Process(target=loadgen_main,
                        args=(b, address, n, shares_per_conn, i, args.loop, WORKERS_PER_CONN),
                        daemon=True)
        p.start()
        gens.append((p, a))
    ready = [recv(a, "load generator") for _, a in gens]
    assert sum(r["ready"] for r in ready) == connections, ready

    def load(duration: float, warmup: float, interval: float = 0.0) -> list[dict[str, Any]]:
        for _, a in gens:
            a.send(("load", (duration, warmup, interval)))
        return [recv(a, "load generator") for _, a in gens]

    deadline = time.monotonic() + 120
    while True:  # every worker credited once: the book holds them all
        load(warm_s / 2, 0.1)
        parent.send("stats")
        stats = recv(parent, "pool")
        if stats["workers"] >= workers or time.monotonic() > deadline:
            break
    book = stats["workers"]
    interval = connections / args.stats_rate  # the offered load, below saturation
    quiet = load(args.duration, args.warmup, interval)
    parent.send("stats")
    quiet_pool = recv(parent, "pool")
    one = f"load0.c0.w{WORKERS_PER_CONN // 2}"
    scraper = Scraper([
        ("metrics", hello["metrics"]),
        ("workers_page", f"{hello['api']}/workers?limit=1000"),
        ("worker", f"{hello['api']}/workers/{one}"),
        ("pool", f"{hello['api']}/pool"),
    ], args.scrape_interval)
    scraper.start()
    busy = load(args.duration, args.warmup, interval)
    scraper.stop.set()
    scraper.join(60)
    parent.send("stats")
    after = recv(parent, "pool")
    stop_all(parent, pool, gens)

    def lat(results: list[dict[str, Any]]) -> list[float]:
        return [x for r in results for x in r["latencies"]]

    def rate(results: list[dict[str, Any]]) -> float:
        return sum(r["accepted"] for r in results) / max(r["seconds"] for r in results)

    return {
        "workers": book, "connections": connections, "rss_mib": after["rss"] / 2**20,
        "lag_ms": quiet_pool["loop_lag_ms"], "lag_scraping_ms": after["loop_lag_ms"],
        "gc_ms": quiet_pool["gc_max_ms"], "gc_scraping_ms": after["gc_max_ms"],
        "cpu_ms": quiet_pool["loop_cpu_ms"], "cpu_scraping_ms": after["loop_cpu_ms"],
        "quiet_rate": rate(quiet), "busy_rate": rate(busy),
        "p50_ms": pct(lat(quiet), 0.5) * 1000, "p99_ms": pct(lat(quiet), 0.99) * 1000,
        "p50_scraping_ms": pct(lat(busy), 0.5) * 1000,
        "p99_scraping_ms": pct(lat(busy), 0.99) * 1000,
        "max_scraping_ms": max(lat(busy), default=float("nan")) * 1000,
        "ran_dry": sum(r["ran_dry"] for r in quiet + busy),
        "rejected": sum(r["rejected"] for r in busy),
        "scrapes": {name: (len(t), pct(t, 0.5) * 1000, max(t, default=float("nan")) * 1000)
                    for name, t in scraper.times.items()},
        "sizes": scraper.sizes, "scrape_errors": scraper.errors[:5],
    }


def report_stats(r: dict[str, Any]) -> None:
    goal = GOAL["p99_scraping_ms"]
    print(f"\n== stats: {r['workers']} workers in the book, {r['connections']} connections ==")
    print(f"share answers without scraping   p50 {r['p50_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms"
          f"   ({r['quiet_rate']:.0f} shares/s)")
    print(f"share answers during scraping    p50 {r['p50_scraping_ms']:.1f} ms   p99 "
          f"{r['p99_scraping_ms']:.1f} ms   max {r['max_scraping_ms']:.1f} ms   "
          f"({r['busy_rate']:.0f} shares/s)   goal p99 < {goal:.0f} ms "
          f"({ratio(r['p99_scraping_ms'], goal, False)})")
    for name, (n, p50, worst) in r["scrapes"].items():
        size = r["sizes"].get(name, 0)
        print(f"  {name:<13} {n:>4} reads   p50 {p50:7.1f} ms   max {worst:7.1f} ms   "
              f"{size / 1024:8.1f} KiB")
    print(f"longest event-loop stall {r['lag_ms']:.1f} ms quiet, {r['lag_scraping_ms']:.1f} ms "
          f"scraping (of it on the loop's CPU: {r['cpu_ms']:.1f} / {r['cpu_scraping_ms']:.1f} "
          f"ms); longest GC pause {r['gc_ms']:.1f} / {r['gc_scraping_ms']:.1f} ms")
    print(f"pool RSS {r['rss_mib']:.0f} MiB; shares rejected {r['rejected']}, ran dry "
          f"{r['ran_dry']}" + (f"; scrape errors {r['scrape_errors']}"
                                if r["scrape_errors"] else ""))
    s = r["scrapes"]
    print(f"\nstratum-stats: workers={r['workers']} p99_ms={r['p99_ms']:.1f} "
          f"p99_scraping_ms={r['p99_scraping_ms']:.1f} "
          f"metrics_scrape_ms={s['metrics'][1]:.1f} workers_page_ms={s['workers_page'][1]:.1f} "
          f"worker_lookup_ms={s['worker'][1]:.1f} "
          f"loop_cpu_max_ms={r['cpu_scraping_ms']:.1f}")


def report(r: dict[str, float]) -> None:
    c = int(r["connections"])
    ck, pp = REFERENCE["ckpool"], REFERENCE["public-pool"]
    print(f"\n== {c} connections ==")
    print(f"accepted shares/s   {r['shares_per_s']:>9.0f}   goal {GOAL['shares_per_s']} "
          f"({ratio(r['shares_per_s'], GOAL['shares_per_s'], True)})   "
          f"ckpool {ck['shares_per_s']} ({ratio(r['shares_per_s'], ck['shares_per_s'], True)})"
          f"   public-pool {pp['shares_per_s']} "
          f"({ratio(r['shares_per_s'], pp['shares_per_s'], True)})")
    print(f"pool CPU during load {r['pool_cores']:.2f} cores -> {r['per_core']:.0f} shares per "
          "pool core-second (the machine is shared: fewer cores means others were busy)")
    print(f"submit->reply       p50 {r['p50_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms   "
          f"(one share in flight per connection; rejected {int(r['rejected'])}, "
          f"batches {int(r['batches'])}, mean batch "
          f"{r['hashed'] / max(1, r['batches']):.0f})")
    print(f"new block->last notify written  {r['fanout_written_ms']:>6.1f} ms "
          f"(worst {r['fanout_written_worst_ms']:.1f}; fan-out loop {r['fanout_loop_ms']:.1f} ms)"
          f"   goal <{GOAL['fanout_ms']} "
          f"({ratio(r['fanout_written_ms'], GOAL['fanout_ms'], False)})"
          f"   ckpool {ck['fanout_ms']} ({ratio(r['fanout_written_ms'], ck['fanout_ms'], False)})"
          f"   public-pool {pp['fanout_ms']} "
          f"({ratio(r['fanout_written_ms'], pp['fanout_ms'], False)})")
    print(f"new block->last notify received {r['fanout_received_ms']:>6.1f} ms "
          f"({int(r['fanout_received'])}/{c} clients, clock of the load processes)")
    print(f"pool RSS per idle connection    {r['kib_per_conn']:>6.2f} KiB   goal <="
          f"{GOAL['kib_per_conn']:.0f} ({ratio(r['kib_per_conn'], GOAL['kib_per_conn'], False)})"
          f"   ckpool {ck['kib_per_conn']} ({ratio(r['kib_per_conn'], ck['kib_per_conn'], False)})"
          f"   public-pool {pp['kib_per_conn']:.0f} "
          f"({ratio(r['kib_per_conn'], pp['kib_per_conn'], False)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="1000,10000",
                        help="comma-separated connection counts")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--generators", type=int, default=2, help="load processes")
    parser.add_argument("--mempool-txs", type=int, default=1000,
                        help="devnet mempool size (merkle branch length ~ log2)")
    parser.add_argument("--fanout-rounds", type=int, default=3)
    parser.add_argument("--expected-rate", type=float, default=40_000,
                        help="shares/s to pre-compute for")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto",
                        help="event loop of the pool and the generators (auto: uvloop if "
                             "installed)")
    parser.add_argument("--fanout-threads", type=int, default=min(4, os.cpu_count() or 1),
                        help="pool threads writing a new job to the connections")
    parser.add_argument("--stats-workers", type=int, default=0,
                        help="measure share answers while the stats endpoints are read, with "
                             "this many workers in the book (e.g. 100000)")
    parser.add_argument("--stats-rate", type=float, default=5_000,
                        help="shares/s offered while measuring with --stats-workers")
    parser.add_argument("--scrape-interval", type=float, default=0.25,
                        help="seconds between rounds of stats reads (0: back to back)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    nofile = raise_nofile()
    if args.stats_workers:
        report_stats(run_stats_scenario(mp.get_context("spawn"), args))
        return 0
    counts = [int(c) for c in args.connections.split(",") if c.strip()]
    if max(counts) + 200 > nofile:
        print(f"RLIMIT_NOFILE is {nofile}: too low for {max(counts)} connections")
        return 2
    ctx = mp.get_context("spawn")
    results = {}
    for c in counts:
        results[c] = run_scenario(ctx, c, args)
        report(results[c])
    top = results[max(counts)]
    best_rate = max(r["shares_per_s"] for r in results.values())
    fan = results[10_000]["fanout_written_ms"] if 10_000 in results else top["fanout_written_ms"]
    print(f"\nstratum: shares_per_s={best_rate:.0f} notify_10k_ms={fan:.1f} "
          f"kib_per_conn={top['kib_per_conn']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
