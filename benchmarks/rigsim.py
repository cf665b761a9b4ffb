"""rigsim benchmark: LuxOS API requests served per second, and CPU per 1,000 emulated rigs.

A child process runs a fleet of emulated rigs (default 1,000, each with its own TCP API
on a free loopback block); this process loads it over loopback only and reads the
child's CPU time, so the figures are the fleet's alone. Phases, all bounded in time:
  idle     the fleet ticks, nobody asks                  -> CPU % per 1,000 rigs, idle
  polled   every rig answers one pyasic get_data request  -> CPU % per 1,000 rigs, polled
           (the 8-command multicommand) every 5 s, the way a fleet controller polls
  flood    64 clients ask as fast as they can             -> requests per second
A request is one pyasic `get_data` multicommand (config+summary+stats+power+profiles+
fans+pools+version, ~6 kB of JSON); the plain `summary` rate is printed too. Then the
no-socket mode: the physics tick of 100,000 rigs in this process.

Then each firmware family on its own (`--families`, default all four): a fleet of that
family's rigs in a child process, its idle CPU and memory per rig, then the real pyasic's
`get_data` on every rig, as many at once as `--concurrency`, for a phase: the fleet's CPU
per `get_data` (each family's is several requests: gRPC calls for Braiins OS, digest-auth
HTTP for stock Antminers, separate btminer commands for Whatsminers) and what that costs
per 1,000 rigs polled every 5 s (after one warm-up round, as a fleet tool polls on and
on). The load is pyasic itself, so it is slow; the figure is the fleet's CPU, not the
throughput.

Last line: `rigsim: api_req_per_s=<n> cpu_pct_per_1k_rigs=<n>` (the polled LuxOS figure),
then `get_data_cpu_ms_<family>=<n>` per family measured.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GET_DATA = b'{"command":"config+summary+stats+power+profiles+fans+pools+version"}'
SUMMARY = b'{"command":"summary"}'
MODELS = ["S19", "S19jPro", "S19XP", "S21", "S21XP", "M50", "M60"]
# each family's models (and per-group extras) in the per-family phase
FAMILY_MODELS: dict[str, list[tuple[str, dict]]] = {
    "luxos": [(m, {}) for m in MODELS],
    "braiins": [(m, {}) for m in ("S19", "S19jPro", "S19XP", "S21")],
    "antminer": [(m, {}) for m in ("S19jPro", "S21XP")],
    "whatsminer": [("M50", {}), ("M60", {"whatsminer_api": "v3"})],
}


def fleet_config(count: int, base: str, family: str = "luxos") -> dict:
    """A fleet of `count` rigs of one family's models on consecutive addresses from `base`."""
    models = FAMILY_MODELS[family]
    per = [count // len(models) + (1 if k < count % len(models) else 0) for k in range(len(models))]
    first = int(ipaddress.IPv4Address(base))
    rigs = []
    for (m, extra), n in zip(models, per, strict=True):
        if n:
            rigs.append(
                {
                    "model": m,
                    "count": n,
                    "site": "bench",
                    "addresses": str(ipaddress.IPv4Address(first)),
                    "firmware": family,
                    **extra,
                }
            )
            first += n
    return {"fleet": {"tick_s": 0.5}, "sites": {"bench": {"ambient_c": 25}}, "rigs": rigs}


# ------------------------------------------------------------------------- child: the fleet


async def serve(count: int, base: str, family: str = "luxos") -> None:
    import aiohttp.web  # noqa: F401  (what a family's APIs import, before the baseline)
    import grpclib.server  # noqa: F401
    import pyasic  # noqa: F401

    from rigsim.config import parse_fleet_config
    from rigsim.fleet import Fleet
    from rigsim.runner import FleetRunner

    baseline = _rss_kib()
    cfg = parse_fleet_config(fleet_config(count, base, family))
    runner = FleetRunner(Fleet(cfg))
    await runner.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "cpu":
                t = os.times()
                print(f"{t.user + t.system} {runner.api.requests_served}", flush=True)
            elif line == "rss":
                print(_rss_kib() - baseline, flush=True)
            elif line == "quit":
                break
    finally:
        await runner.stop()


# ------------------------------------------------------------------------- parent: the load


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, timeout: float = 120) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError("the fleet process exited early")
        return raw.decode().strip()

    async def cpu(self) -> tuple[float, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"cpu\n")
        await self.proc.stdin.drain()
        cpu, served = (await self.line()).split()
        return float(cpu), int(served)


class _Ask(asyncio.Protocol):
    """One request, read to EOF (a Protocol: the client must cost less than the server)."""

    def __init__(self, request: bytes, done: asyncio.Future[bytes]) -> None:
        self.request = request
        self.done = done
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(b"".join(self.chunks))


async def ask(address: str, request: bytes) -> int:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    await loop.create_connection(lambda: _Ask(request, done), address, 4028)
    data = await done
    if not data.endswith(b"\x00"):
        raise RuntimeError(f"{address}: truncated reply")
    return len(data)


def _rss_kib() -> int:
    """This process's resident memory (Linux /proc), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def measure(child: Child, seconds: float) -> tuple[float, float, float]:
    """(fleet CPU %, requests/s served, load generator CPU %) over `seconds`."""
    c0, s0 = await child.cpu()
    p0 = _own_cpu()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    c1, s1 = await child.cpu()
    dt = time.monotonic() - t0
    return 100.0 * (c1 - c0) / dt, (s1 - s0) / dt, 100.0 * (_own_cpu() - p0) / dt


async def poll_loop(addresses: list[str], period: float) -> None:
    """Each rig once per period, spread evenly, like a fleet controller's poll."""
    gap = period / len(addresses)
    start = time.monotonic()
    pending: set[asyncio.Task] = set()
    k = 0
    while True:
        due = start + k * gap
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(ask(addresses[k % len(addresses)], GET_DATA))
        pending.add(task)
        task.add_done_callback(pending.discard)
        k += 1


async def flood(addresses: list[str], request: bytes, workers: int = 64) -> None:
    async def worker(w: int) -> None:
        k = w
        while True:
            await ask(addresses[k % len(addresses)], request)
            k += workers

    await asyncio.gather(*(worker(w) for w in range(workers)))


async def spawn(
    count: int, loop: str, family: str = "luxos"
) -> tuple[asyncio.subprocess.Process, list[str], str]:
    """A child serving `count` rigs of `family` on a free loopback block."""
    from rigsim.addresses import free_loopback_base
    from rigsim.config import parse_fleet_config
    from rigsim.fleet import Fleet

    base = free_loopback_base(count)
    cfg = parse_fleet_config(fleet_config(count, base, family))
    addresses = [r.address for r in Fleet(cfg).rigs]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(count), "--base", base, "--loop", loop,
        "--family", family, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return proc, addresses, base


async def finish(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        assert proc.stdin is not None
        proc.stdin.write(b"quit\n")
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run(count: int, phase_s: float, loop: str = "auto") -> tuple[float, float]:
    proc, addresses, base = await spawn(count, loop)
    child = Child(proc)
    try:
        t0 = time.monotonic()
        if await child.line() != "ready":
            raise RuntimeError("the fleet process did not start")
        print(f"fleet of {count} rigs listening on {base}.. in {time.monotonic() - t0:.1f}s")
        await asyncio.gather(*(ask(a, SUMMARY) for a in addresses[:50]))  # warm up

        idle_cpu, _, _ = await measure(child, phase_s)
        print(
            f"idle:    fleet CPU {idle_cpu:5.1f}% of a core "
            f"= {idle_cpu * 1000 / count:.2f}% per 1k rigs"
        )

        load = asyncio.create_task(poll_loop(addresses, 5.0))
        await asyncio.sleep(1.0)
        polled_cpu, polled_rate, _ = await measure(child, phase_s)
        load.cancel()
        print(
            f"polled:  {polled_rate:6.0f} get_data req/s, fleet CPU {polled_cpu:5.1f}% "
            f"= {polled_cpu * 1000 / count:.2f}% per 1k rigs"
        )

        rates = {}
        for name, req in (("summary", SUMMARY), ("get_data", GET_DATA)):
            load = asyncio.create_task(flood(addresses, req))
            await asyncio.sleep(0.5)
            cpu, rate, client = await measure(child, phase_s)
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
            rates[name] = rate
            print(
                f"flood:   {rate:6.0f} {name} req/s, fleet CPU {cpu:5.1f}% "
                f"(~{rate * 100 / max(cpu, 1e-9):.0f} req/s per fleet core), "
                f"load generator CPU {client:5.1f}%"
            )
        return rates["get_data"], polled_cpu * 1000 / count
    finally:
        await finish(proc)


async def family_cost(
    family: str, count: int, phase_s: float, concurrency: int, loop: str
) -> float | None:
    """The fleet's CPU milliseconds per pyasic get_data on rigs of one family (None when
    the family cannot be served here, e.g. port 80 without the privilege)."""
    import warnings

    import pyasic

    proc, addresses, _ = await spawn(count, loop, family)
    child = Child(proc)
    try:
        t0 = time.monotonic()
        try:
            if await child.line() != "ready":
                raise RuntimeError
        except (RuntimeError, TimeoutError):
            print(f"{family:>10}: the fleet did not start (port 80 needs root for antminer?)")
            return None
        start_s = time.monotonic() - t0
        idle_cpu, _, _ = await measure(child, phase_s)
        assert proc.stdin is not None
        proc.stdin.write(b"rss\n")
        rss = int(await child.line())
        gate = asyncio.Semaphore(concurrency)

        async def identify(address: str) -> object:
            async with gate:
                return await pyasic.get_miner(address)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            miners = [m for m in await asyncio.gather(*(identify(a) for a in addresses)) if m]
        if len(miners) != len(addresses):
            raise RuntimeError(f"{family}: pyasic identified {len(miners)} of {len(addresses)}")

        async def first(miner: object) -> None:
            async with gate:
                await miner.get_data()  # type: ignore[attr-defined]

        await asyncio.gather(*(first(m) for m in miners))  # a tool polls on and on: warm up
        c0, _ = await child.cpu()
        t0 = time.monotonic()
        deadline = t0 + phase_s

        async def poll(k: int) -> int:
            calls = 0
            while time.monotonic() < deadline:
                await miners[k % len(miners)].get_data()
                calls += 1
                k += concurrency
            return calls

        calls = sum(await asyncio.gather(*(poll(k) for k in range(concurrency))))
        c1, _ = await child.cpu()
        dt = time.monotonic() - t0
        ms = 1000.0 * (c1 - c0) / max(calls, 1)
        idle = idle_cpu * 1000 / count
        print(
            f"{family:>10}: {count} rigs up in {start_s:4.1f}s, idle {idle:5.2f}% CPU per 1k "
            f"rigs, RSS +{rss / count:5.1f} KiB/rig; get_data {calls / dt:5.1f}/s costs the "
            f"fleet {ms:5.2f} CPU-ms = {ms * 20:5.1f}% per 1k rigs polled every 5 s"
        )
        return ms
    finally:
        await finish(proc)


def no_socket_tick(count: int = 100_000) -> None:
    import numpy as np

    from rigsim.clock import FakeClock
    from rigsim.config import parse_fleet_config
    from rigsim.fleet import Fleet

    clock = FakeClock()
    cfg = parse_fleet_config(fleet_config(count, "127.64.0.1"))
    t0 = time.perf_counter()
    fleet = Fleet(cfg, clock=clock)
    build = time.perf_counter() - t0
    fleet.sleep(np.arange(0, count, 4))
    ticks = 20
    t0 = time.process_time()
    for _ in range(ticks):
        clock.advance(0.5)
        fleet.advance()
    per_tick = (time.process_time() - t0) / ticks
    scale = count / 100_000  # the goals are for 100,000 rigs
    print(
        f"no-socket: {count} rigs built in {build:.1f}s (goal < {10 * scale:g} s, goal/actual "
        f"{10 * scale / build:.1f}x), tick {per_tick * 1e3:.1f} ms (goal < {250 * scale:g} ms, "
        f"goal/actual {0.25 * scale / per_tick:.1f}x) "
        f"= {100 * per_tick / 0.5 * 1000 / count:.3f}% CPU per 1k rigs at 2 ticks/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rigs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--quick", action="store_true", help="200 rigs, 2 s phases")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--family", default="luxos", help=argparse.SUPPRESS)
    parser.add_argument(
        "--families", default="luxos,braiins,antminer,whatsminer",
        help="firmware families of the per-family phase ('' for none)",
    )  # fmt: skip
    parser.add_argument("--family-rigs", type=int, default=200, help="rigs per family fleet")
    parser.add_argument("--concurrency", type=int, default=16, help="get_data calls at once")
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="the fleet's event loop (auto: uvloop, as `surplus rigsim` runs)",
    )
    args = parser.parse_args(argv)
    from plumbing import eventloop

    if args.serve:
        eventloop.run(serve(args.serve, args.base, args.family), args.loop)
        return 0
    count, seconds = (200, 2.0) if args.quick else (args.rigs, args.seconds)
    kind = "uvloop" if args.loop != "asyncio" and eventloop.uvloop_available() else "asyncio"
    print(f"the fleet runs on {kind}")
    req_per_s, cpu_per_1k = asyncio.run(run(count, seconds, args.loop))
    no_socket_tick(20_000 if args.quick else 100_000)
    per_family = {}
    family_rigs = 50 if args.quick else args.family_rigs
    for family in [f for f in args.families.split(",") if f]:
        if family not in FAMILY_MODELS:
            parser.error(f"--families: unknown family {family!r}; expected {list(FAMILY_MODELS)}")
        ms = asyncio.run(family_cost(family, family_rigs, seconds, args.concurrency, args.loop))
        if ms is not None:
            per_family[family] = ms
    extra = "".join(f" get_data_cpu_ms_{f}={ms:.2f}" for f, ms in per_family.items())
    print(f"rigsim: api_req_per_s={req_per_s:.0f} cpu_pct_per_1k_rigs={cpu_per_1k:.2f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
