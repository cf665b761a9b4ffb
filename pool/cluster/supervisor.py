"""`surplus pool` with `[stratum] processes` > 1: a supervisor and N worker processes.

The supervisor binds the Stratum address first with SO_REUSEPORT, without listening
(port 0 in the config: this is where the port is picked), so the port is the cluster's
for as long as the supervisor lives; a bound socket that does not listen gets no
connections. Each worker (`python -m pool.cluster.worker`) binds and listens on the same
port with SO_REUSEPORT, and the kernel spreads new connections over the listening
workers by a hash of the 4-tuple. Each worker follows the node itself, builds its own
jobs and writes its own shares to PostgreSQL with its own group commits: nothing passes
through the supervisor, which only starts, watches and restarts (SQLite: below).

A worker that exits while the cluster runs is started again (backoff 0.5 s doubling to
30 s, reset once a worker has run a minute); the log says which process, how it ended
and when it is back. Its miners lose their connection; their reconnects land on the
listening workers (the restarted one included, once it listens). A share a dead worker
answered `true` was committed first, so nothing answered is lost.

SIGTERM/SIGINT: every worker gets SIGTERM and drains as a single pool does (miners get
`client.reconnect`, shares in flight are answered and committed).

A SQLite ledger has one writer at a time, so with SQLite the supervisor first starts a
ledger writer process (`python -m pool.cluster.ledger_process`), waits until it listens
on a Unix socket in a private run directory (mode 0700, made by the supervisor, removed
at the end; the socket itself 0600), then starts the workers with that socket. Every
worker sends its share batches, network values and found blocks there and answers a
share `true` only once the writer said its batch is committed; every worker reads the
file itself (WAL mode: readers never wait for the writer). The writer is the ledger's
leader (block maturity, settlement, payouts run there and nowhere else).

Why a process of its own and not the supervisor: the supervisor holds the port for the
cluster's whole life, so it stays small (start, watch, relay lines) and has nothing that
can crash or stall it; the writer runs a group-commit thread, a checkpointer and the
leader's node and wallet calls, and when it dies the supervisor restarts it like a
worker (same backoff) while the port, the workers and their miners stay up. Meanwhile
the workers answer shares with an error (never `true`) and reconnect to the new writer
on their own; what the dead writer acknowledged was committed before the answer left.
The writer stops last, after the workers drained through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from plumbing.endpoint import http_url
from plumbing.escape import printable
from pool.app_node import PoolStartupError
from pool.cluster.ledger_process import READY as WRITER_READY
from pool.cluster.stats import ClusterStats
from pool.config import PoolConfig

log = logging.getLogger("pool.cluster")

READY_WORD = ": ready on "  # pool.serve prints "surplus pool process I: ready on HOST:PORT"
WRITER = -1  # the slot index of the ledger writer process (workers count from 0)
LEDGER_SOCKET = "ledger.sock"
STATS_LINE = re.compile(r": stats API at (http://127\.0\.0\.1:\d+)$")
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # a worker up this long starts the next restart's backoff afresh
STOP_MARGIN = 15.0  # seconds beyond the drain deadlines before a worker is killed
MAX_LINE = 4096  # a worker's stdout line, at most (it is ours, but bounded all the same)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) `host:port` with SO_REUSEPORT: the workers' listening sockets
    join it; with port 0 the kernel picks the port here, once, for all of them."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


@dataclass
class Worker:
    """One worker slot: its current process, and how often it was restarted."""

    index: int
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = FIRST_BACKOFF
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    stats_url: str | None = None  # its own stats API (loopback), asked by the cluster's

    @property
    def name(self) -> str:
        return "ledger writer" if self.index == WRITER else f"pool process {self.index}"

    @property
    def lost(self) -> str:
        """What its death means while it is away (for the log line)."""
        if self.index == WRITER:
            return "the workers answer shares with an error until it is back"
        return "its miners reconnect to the other processes"


class Supervisor:
    def __init__(
        self, config_path: Path, config: PoolConfig, *, log_level: str = "INFO",
        out: TextIO | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.log_level = log_level
        self.count = config.process_count
        self.out = out if out is not None else sys.stdout
        self.workers = [Worker(i) for i in range(self.count)]
        ledger = config.ledger
        self.writer = Worker(WRITER) if ledger is not None and ledger.backend == "sqlite" else None
        self.run_dir: Path | None = None  # the writer's socket lives here
        self.port = 0
        self.tls_port: int | None = None
        self._sockets: list[socket.socket] = []
        self._stopping = False

    # ------------------------------------------------------------------ workers

    @property
    def ledger_socket(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / LEDGER_SOCKET

    def _command(self, index: int) -> list[str]:
        if index == WRITER:
            return [sys.executable, "-m", "pool.cluster.ledger_process", "--config",
                    str(self.config_path), "--socket", str(self.ledger_socket),
                    "--log-level", self.log_level]  # fmt: skip
        command = [
            sys.executable, "-m", "pool.cluster.worker", "--config", str(self.config_path),
            "--index", str(index), "--count", str(self.count), "--port", str(self.port),
            "--log-level", self.log_level,
        ]
        if self.tls_port is not None:
            command += ["--tls-port", str(self.tls_port)]
        if self.ledger_socket is not None:
            command += ["--ledger-socket", str(self.ledger_socket)]
        return command

    async def _spawn(self, worker: Worker) -> None:
        worker.ready = asyncio.Event()
        worker.stats_url = None
        worker.proc = await asyncio.create_subprocess_exec(
            *self._command(worker.index), stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL, limit=MAX_LINE,
        )
        worker.started = time.monotonic()
        worker.reader = asyncio.get_running_loop().create_task(
            self._read(worker, worker.proc), name=f"pool-process-{worker.index}-stdout"
        )

    async def _read(self, worker: Worker, proc: asyncio.subprocess.Process) -> None:
        """Pass the worker's lines on (they are the pool's own, printed for operators and
        scripts) and notice its ready line."""
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):  # a line over MAX_LINE: skip it
                continue
            if not line:
                return
            text = printable(line.decode("utf-8", "replace").rstrip("\n"), MAX_LINE)
            print(text, file=self.out, flush=True)
            stats = STATS_LINE.search(text)
            if stats:
                worker.stats_url = stats.group(1)
            if READY_WORD in text and (worker.index != WRITER or text.startswith(WRITER_READY)):
                worker.ready.set()

    async def _wait_ready(self, worker: Worker, timeout: float) -> None:
        assert worker.proc is not None
        ready = asyncio.ensure_future(worker.ready.wait())
        ended = asyncio.ensure_future(worker.proc.wait())
        try:
            await asyncio.wait({ready, ended}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            ready.cancel()
            ended.cancel()
        if worker.ready.is_set():
            return
        if worker.proc.returncode is not None:
            raise PoolStartupError(
                f"{worker.name} {exit_reason(worker.proc.returncode)} before it was ready "
                "(its log above says why)"
            )
        raise PoolStartupError(f"{worker.name} was not ready within {timeout:g} s")

    # ------------------------------------------------------------------ running

    def _reserve(self, key: str, host: str, port: int) -> int:
        try:
            sock = reserve_port(host, port)
        except OSError as exc:
            for held in self._sockets:
                held.close()
            raise PoolStartupError(
                f"{key}: cannot bind {host}:{port}: {exc.strerror or exc}"
            ) from None
        self._sockets.append(sock)
        return int(sock.getsockname()[1])

    async def start(self) -> tuple[str, int]:
        """Reserve the port, start every worker, wait until each listens."""
        stratum = self.config.stratum
        self.port = self._reserve("stratum.port", stratum.host, stratum.port)
        if stratum.tls_address is not None:
            self.tls_port = self._reserve("stratum.tls_listen", *stratum.tls_address)
        timeout = self.config.startup_timeout + 60.0  # a worker warms its kernels too
        try:
            if self.writer is not None:  # first: it migrates the file, the workers use it
                self.run_dir = Path(tempfile.mkdtemp(prefix="surplus-pool-"))
                await self._spawn(self.writer)
                await self._wait_ready(self.writer, timeout)
            for worker in self.workers:
                await self._spawn(worker)
            for worker in self.workers:
                await self._wait_ready(worker, timeout)
        except BaseException:
            await self.stop()
            raise
        log.info("pool cluster up: %d processes of node %s on %s:%d", self.count,
                 self.config.node_id, stratum.host, self.port)  # fmt: skip
        return stratum.host, self.port

    async def watch(self, stop: asyncio.Event) -> None:
        """Restart workers that end, until `stop` is set: one keeper per worker, so a
        worker starting again never holds up the restart of another."""
        slots = [*self.workers, *([self.writer] if self.writer is not None else [])]
        keepers = [asyncio.ensure_future(self._keep(worker, stop)) for worker in slots]
        try:
            await stop.wait()
        finally:
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)

    async def _keep(self, worker: Worker, stop: asyncio.Event) -> None:
        while not stop.is_set():
            assert worker.proc is not None
            await worker.proc.wait()
            if stop.is_set():
                return
            await self._restart(worker, stop)

    async def _restart(self, worker: Worker, stop: asyncio.Event) -> None:
        assert worker.proc is not None
        ran = time.monotonic() - worker.started
        if ran >= STABLE_AFTER:
            worker.backoff = FIRST_BACKOFF
        delay = worker.backoff
        worker.backoff = min(worker.backoff * 2, MAX_BACKOFF)
        worker.restarts += 1
        log.error(
            "%s (pid %d) %s after %.1f s; %s; restarting it in %.1f s (restart %d)",
            worker.name, worker.proc.pid, exit_reason(worker.proc.returncode or 0), ran,
            worker.lost, delay, worker.restarts,
        )
        if worker.reader is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(worker.reader), 1.0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return
        await self._spawn(worker)
        ready = asyncio.ensure_future(self._wait_ready(worker, self.config.startup_timeout + 60))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ready, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not ready.done():  # shutting down: stop() takes care of the new process
            ready.cancel()
            return
        if ready.exception() is not None:
            log.error("%s", ready.exception())  # watch() sees it ended, and starts it again
            return
        assert worker.proc is not None
        log.warning("%s is back (pid %d)", worker.name, worker.proc.pid)

    async def stop(self) -> None:
        """SIGTERM to every worker; each drains like a single pool; SIGKILL what is left
        after the drain deadlines. Then the same for the ledger writer, which the
        workers' drains still wrote through."""
        if self._stopping:
            return
        self._stopping = True
        await self._stop_all(self.workers)
        if self.writer is not None:
            await self._stop_all([self.writer])
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    async def _stop_all(self, workers: list[Worker]) -> None:
        running = [(w.name, w.proc) for w in workers
                   if w.proc is not None and w.proc.returncode is None]  # fmt: skip
        for _, proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        stratum = self.config.stratum
        grace = stratum.answer_timeout + stratum.drain_timeout + STOP_MARGIN
        if running:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for _, p in running],
                               timeout=grace)  # fmt: skip
            for name, proc in running:
                if proc.returncode is None:
                    log.error("%s (pid %d) did not stop within %.0f s; killing it", name,
                              proc.pid, grace)  # fmt: skip
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        for worker in workers:
            if worker.reader is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(worker.reader, 1.0)

    def stats_urls(self) -> list[str]:
        """The stats APIs of the workers that are up now."""
        return [w.stats_url for w in self.workers if w.stats_url and w.proc is not None
                and w.proc.returncode is None and w.ready.is_set()]  # fmt: skip

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]


async def supervise(config_path: Path, config: PoolConfig, log_level: str = "INFO",
                    stop: asyncio.Event | None = None) -> None:  # fmt: skip
    """`surplus pool` for a cluster: start, print the listening line, watch until
    SIGINT/SIGTERM (or `stop`), stop every worker."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(config_path, config, log_level=log_level)
    host, port = await supervisor.start()
    stats: ClusterStats | None = None
    if config.stats_api is not None and config.stats_api.enabled:
        stats = ClusterStats(config.stats_api, supervisor.stats_urls)
        try:
            await stats.start()
        except OSError as exc:
            await supervisor.stop()
            raise PoolStartupError(f"stats_api.listen: cannot listen on "
                                   f"{config.stats_api.listen}: {exc.strerror or exc}") from None
    if supervisor.tls_port is not None:
        print(f"surplus pool: stratum over TLS on {host}:{supervisor.tls_port}", flush=True)
    print(f"surplus pool: stratum listening on {host}:{port} ({config.mode} mode, "
          f"{config.network}, node, {supervisor.count} processes of node {config.node_id}, "
          f"pids {' '.join(map(str, supervisor.pids()))}, supervisor pid {os.getpid()})",
          flush=True)  # fmt: skip
    if stats is not None and stats.address is not None:
        url = http_url(stats.address)
        print(f"surplus pool: stats API on {url}/api/v1/pool (OpenAPI: {url}/openapi.json; "
              f"the cluster's: {supervisor.count} processes)", flush=True)  # fmt: skip
    try:
        await supervisor.watch(stop)
    finally:
        print("surplus pool: shutting down (miners are told to reconnect)", flush=True)
        if stats is not None:
            await stats.close()
        await supervisor.stop()
