"""CPU cost of one new-job fan-out per connection, in one pool process.

    python benchmarks/fanout_cost.py [--connections 5000] [--rounds 20] [--threads N]

A StratumServer on loopback with `--connections` subscribed and authorized miners whose
sockets live in this same process, unread while the job is written: publishing a job
runs the whole fan-out synchronously inside `JobFeed.publish` (bookkeeping, encoding,
the writes by the loop and the writer threads), so the process's CPU time around that
call is the fan-out's cost, user and system, whatever else the machine is doing. The
miners' sockets are drained between rounds, outside the measured window. The figures
are medians over the rounds, in microseconds per connection; wall time is printed too
but is the number a busy machine disturbs.

`--python-only` leaves the kernel's TCP work out: the sessions are made by hand, their
transports are stand-ins with nothing queued and their fd is /dev/null, one writer
thread, so what is measured is the Python side of the pass (bookkeeping, batching, the
write calls themselves), from the process's CPU clock (precise: the kernel's runtime
accounting, not sampled ticks), medians of many rounds.

Instructions instead of time: run it twice under `valgrind --tool=callgrind` with a
small --connections and two --rounds counts; the difference of the two totals over
(difference of rounds x connections) is the user-space instructions per connection
of one fan-out, a figure no other load on the machine moves.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _template(height: int, prev: str) -> dict[str, object]:
    """A getblocktemplate-shaped dict with a few transactions (a merkle branch of 2)."""
    import hashlib

    txs = []
    for i in range(3):
        data = bytes([2, 0, 0, 0, 1]) + bytes([i + 1]) * 32 + bytes(10) + bytes([height % 256])
        txid = hashlib.sha256(hashlib.sha256(data).digest()).digest()[::-1].hex()
        txs.append({"data": data.hex(), "txid": txid, "hash": txid, "fee": 1000})
    now = int(time.time())
    return {"version": 0x20000000, "previousblockhash": prev, "transactions": txs,
            "coinbasevalue": 5_000_003_000, "bits": "1d00ffff", "curtime": now,
            "mintime": now - 600, "height": height, "rules": []}  # fmt: skip


def _drain(socks: list[socket.socket]) -> int:
    got = 0
    for sock in socks:
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            got += len(chunk)
    return got


class _IdleTransport:
    """A transport with nothing queued that takes no write (the fd gets them)."""

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        raise AssertionError("a fan-out to an idle transport writes to its fd")


def _python_only(args: argparse.Namespace) -> None:
    import os

    from pool.jobs import JobFactory
    from pool.jobs.factory import TemplateWork
    from pool.stratum.config import StratumConfig
    from pool.stratum.jobfeed import JobFeed
    from pool.stratum.server import StratumServer
    from pool.stratum.session import StratumSession

    feed = JobFeed(JobFactory(bytes.fromhex("0014" + "77" * 20)))
    feed.publish_template(TemplateWork.from_gbt(_template(500, "11" * 32)), clean_jobs=True)
    config = StratumConfig(host="127.0.0.1", port=0, fanout_threads=1,
                           vardiff={"enabled": False, "initial": 1e-6, "minimum": 1e-12})
    server = StratumServer(config, feed)
    server._unsubscribe_jobs = feed.subscribe(server.on_job)
    devnull = os.open(os.devnull, os.O_WRONLY)
    for i in range(args.connections):
        session = StratumSession(server)
        session.transport = _IdleTransport()  # type: ignore[assignment]
        session.fd = devnull
        session.extranonce1 = i.to_bytes(4, "big")
        session.subscribed = session.authorized = session.working = True
        session.workers = {f"w.{i}"}
        server._working[session] = None
    cpu = []
    for r in range(args.rounds):
        work = TemplateWork.from_gbt(_template(501 + r, f"{r + 0x20:064x}"))
        job = feed.factory.job(work, clean_jobs=True)  # type: ignore[union-attr]
        t0 = time.process_time()
        feed.publish(job, work)
        cpu.append((time.process_time() - t0) * 1e6 / args.connections)
    print(f"Python side of a fan-out to {args.connections} connections (fd /dev/null), "
          f"median of {args.rounds} rounds: {statistics.median(cpu):.3f} us/conn "
          f"(min {min(cpu):.3f})")
    print(f"fanout_cost: python_us_per_conn={statistics.median(cpu):.3f}")
    os.close(devnull)
    server._fanout.close()
    server.validator.close()


async def _run(args: argparse.Namespace) -> None:
    from pool.jobs import JobFactory
    from pool.jobs.factory import TemplateWork
    from pool.stratum.config import StratumConfig
    from pool.stratum.jobfeed import JobFeed
    from pool.stratum.server import StratumServer

    feed = JobFeed(JobFactory(bytes.fromhex("0014" + "77" * 20)))
    feed.publish_template(TemplateWork.from_gbt(_template(500, "11" * 32)), clean_jobs=True)
    overrides = {} if args.threads is None else {"fanout_threads": args.threads}
    config = StratumConfig(
        host="127.0.0.1", port=0, max_connections=args.connections + 100,
        max_connections_per_ip=args.connections + 100, write_buffer_limit=4 << 20,
        subscribe_timeout=300, authorize_timeout=300, ban={"enabled": False},
        vardiff={"enabled": False, "initial": 1e-6, "minimum": 1e-12}, **overrides,
    )  # fmt: skip
    server = StratumServer(config, feed)
    await server.start()
    loop = asyncio.get_running_loop()
    socks = []
    hello = (b'{"id":1,"method":"mining.subscribe","params":["fanout-cost"]}\n'
             b'{"id":2,"method":"mining.authorize","params":["w.%d","x"]}\n')  # fmt: skip
    for i in range(args.connections):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, server.address)
        await loop.sock_sendall(sock, hello % i)
        socks.append(sock)
        if i % 500 == 499:
            await asyncio.sleep(0)
    deadline = time.monotonic() + 120
    while len(server._working) < args.connections:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(server._working)} of {args.connections} working")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    _drain(socks)
    user, system, wall = [], [], []
    expected = None
    for r in range(args.rounds):
        work = TemplateWork.from_gbt(_template(501 + r, f"{r + 0x20:064x}"))
        job = feed.factory.job(work, clean_jobs=True)  # type: ignore[union-attr]
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        feed.publish(job, work)
        t1 = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(0.05)  # leftovers the transports queued go out
        got = _drain(socks)
        expected = expected or got
        user.append((after.ru_utime - before.ru_utime) * 1e6 / args.connections)
        system.append((after.ru_stime - before.ru_stime) * 1e6 / args.connections)
        wall.append((t1 - t0) * 1e6 / args.connections)
        if got < args.connections * 100:
            raise RuntimeError(f"round {r}: only {got} bytes reached the miners")
    cpu = [u + s for u, s in zip(user, system, strict=True)]
    print(f"fan-out of one job to {args.connections} connections "
          f"({server._fanout.threads} writer threads), medians of {args.rounds} rounds: "
          f"cpu {statistics.median(cpu):.2f} us/conn (user {statistics.median(user):.2f}, "
          f"system {statistics.median(system):.2f}); wall {statistics.median(wall):.2f} "
          f"us/conn ({statistics.median(wall) * args.connections / 1000:.1f} ms)")  # fmt: skip
    print(f"fanout_cost: cpu_us_per_conn={statistics.median(cpu):.2f} "
          f"user_us_per_conn={statistics.median(user):.2f} "
          f"wall_us_per_conn={statistics.median(wall):.2f}")
    for sock in socks:
        sock.close()
    await server.close(reconnect=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="fanout_threads (default: the config's)")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    parser.add_argument("--python-only", action="store_true",
                        help="stand-in transports writing to /dev/null: the Python side alone")
    args = parser.parse_args()
    if args.python_only:
        _python_only(args)
        return 0
    from plumbing import eventloop

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import stratum_load as load

    load.raise_nofile()
    eventloop.run(_run(args), args.loop)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
