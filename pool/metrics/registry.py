"""The pool's registry: a collector over the live server (pool.metrics.collector) plus
the Histograms the objects do not keep (fan-out, validation batches, node calls, ledger
commits), fed through small hooks, and the wiring that hands each hook its place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector

from plumbing.endpoint import MetricsEndpoint
from pool.metrics.collector import PoolCollector
from pool.metrics.config import MetricsSection
from pool.metrics.hooks import MeteredSink, TimedNode
from pool.worker_rejects import RejectBook
from pool.workers import WorkerBook

if TYPE_CHECKING:
    from pool.hashrate_history import HashrateHistory
    from pool.node.transport import CallRecord
    from pool.shares.accepted import ShareSink
    from pool.stratum.server import StratumServer

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)



def ledger_commit_histograms(registry: CollectorRegistry) -> tuple[Histogram, Histogram]:
    """The seconds and the shares of each group commit, under the same names in a pool
    process and in a SQLite cluster's ledger writer (pool.metrics.writer)."""
    seconds = Histogram("surplus_pool_ledger_commit_seconds",
                        "One group commit of shares to the ledger", buckets=LATENCY_BUCKETS,
                        registry=registry)  # fmt: skip
    rows = Histogram("surplus_pool_ledger_commit_shares", "Shares per ledger group commit",
                     buckets=BATCH_BUCKETS, registry=registry)  # fmt: skip
    return seconds, rows


class PoolMetrics:
    """The pool's registry: a collector over the server plus hook-fed histograms."""

    def __init__(
        self,
        config: MetricsSection | None = None,
        *,
        process_metrics: bool = True,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or MetricsSection()
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.workers = WorkerBook(self.config.worker_window_s, clock=clock,
                                  max_workers=self.config.max_tracked_workers)
        self.rejects = RejectBook(self.config.max_tracked_workers, self.workers.forget_s,
                                  clock=clock)  # fmt: skip
        # the stats API's hashrate history (pool.hashrate_history), fed by the share sink
        self.history: HashrateHistory | None = None
        self.server: StratumServer | None = None
        r = self.registry

        def histogram(name: str, doc: str, buckets: tuple[float, ...],
                      labels: tuple[str, ...] = ()) -> Histogram:  # fmt: skip
            return Histogram(name, doc, labels, buckets=buckets, registry=r)

        self.fanout_seconds = histogram(
            "surplus_pool_fanout_seconds",
            "From a new job (its template in hand, or the new block's detection when the "
            "app reports it) to the last session's mining.notify written",
            LATENCY_BUCKETS, ("trigger",))  # fmt: skip
        for trigger in ("new_block", "refresh"):
            self.fanout_seconds.labels(trigger)
        self.batch_size = histogram("surplus_pool_validation_batch_shares",
                                    "Shares hashed per validator batch", BATCH_BUCKETS)
        self.batch_seconds = histogram(
            "surplus_pool_validation_batch_seconds",
            "From the oldest share of a batch being queued to its verdicts", LATENCY_BUCKETS)
        self.rpc_seconds = histogram("surplus_pool_node_rpc_seconds",
                                     "Node calls by method and endpoint", RPC_BUCKETS,
                                     ("method", "endpoint"))  # fmt: skip
        self._rpc_calls: dict[tuple[str, str], list[int]] = {}  # -> [ok, failed]
        self._rpc_errors: dict[tuple[str, str, str], int] = {}
        self.ledger_commit_seconds, self.ledger_commit_rows = ledger_commit_histograms(r)
        self.share_commit_seconds = histogram(
            "surplus_pool_share_commit_seconds",
            "A validated batch's wait for its commit in the share store (the ledger's group "
            "commit, as the miners waiting for their answer see it)", LATENCY_BUCKETS)
        if process_metrics:  # off where several pools share a process (tests)
            ProcessCollector(namespace="surplus_pool", registry=r)
        self._collector = PoolCollector(self)
        r.register(self._collector)
        self.quarantined_accounts: int | None = None  # payouts skip them (the ledger's)
        self.ledger_leader: bool | None = None  # None: no ledger
        self._block_detected: float | None = None
        self._prevhash: bytes | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._queued: dict[int, float] = {}

    # ------------------------------------------------------------------ wiring

    def attach(self, server: StratumServer, *, instrument_validator: bool = True) -> None:
        """Read `server` at scrape time and time its fan-outs. With `instrument_validator`
        the validator's batches are timed through its `observer` hook when it has one,
        else by wrapping its submit/on_batch callables on the instance."""
        if self.server is not None:
            raise RuntimeError("PoolMetrics is already attached to a server")
        self.server = server
        server.reject_listener = self.rejects.reject
        current = server.jobs.current
        self._prevhash = None if current is None else current.prevhash
        self._unsubscribe = server.jobs.subscribe(self._on_job)
        if instrument_validator:
            self._instrument_validator(server.validator)

    def detach(self) -> None:
        if self.server is not None:
            self.server.reject_listener = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def wrap_sink(self, sink: ShareSink | None) -> MeteredSink:
        """The sink to hand the Stratum server: per-worker accounting in front of `sink`."""
        return MeteredSink(sink, self)

    def wrap_node(self, node: Any, endpoint: str = "devnet") -> Any:
        """Time every Node call of a node that has no `on_call` hook (the devnet)."""
        return TimedNode(node, self, endpoint)

    def instrument_node(self, node: Any, endpoint: str = "devnet") -> Callable[[], None]:
        """Time `node`'s Node calls in place, as `wrap_node` does, for a caller that must
        keep the node object itself (PoolApp: `app.node` stays the DevnetNode tests and
        the demo read the chain from). Returns the undo."""
        timed = TimedNode(node, self, endpoint)
        names = [n for n in TimedNode._TIMED if callable(getattr(node, n, None))]
        for name in names:
            setattr(node, name, getattr(timed, name))

        def undo() -> None:
            for name in names:
                node.__dict__.pop(name, None)

        return undo

    # ------------------------------------------------------------------ hooks

    def observe_rpc(self, record: CallRecord) -> None:
        """RpcNode's `on_call` hook: one HTTP round trip to a node."""
        self.observe_call(record.method, record.endpoint, record.seconds,
                          None if record.ok else (record.error or "error"))  # fmt: skip

    def observe_call(self, method: str, endpoint: str, seconds: float, error: str | None) -> None:
        self.rpc_seconds.labels(method, endpoint).observe(seconds)
        calls = self._rpc_calls.setdefault((method, endpoint), [0, 0])
        calls[error is not None] += 1
        if error is not None:
            key = (method, endpoint, error)
            self._rpc_errors[key] = self._rpc_errors.get(key, 0) + 1

    def observe_ledger_commit(self, rows: int, seconds: float) -> None:
        """Ledger.open(..., on_commit=...) hook; runs on a ledger writer thread."""
        self.ledger_commit_seconds.observe(seconds)
        self.ledger_commit_rows.observe(rows)

    def observe_batch(self, size: int, seconds: float) -> None:
        """One validator batch: its size and the latency of its oldest share."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def block_detected(self, at: float | None = None) -> None:
        """The block watcher saw a new tip: the next new-block fan-out is timed from here
        (the app calls this first thing in its on_new_block)."""
        self._block_detected = self.clock() if at is None else at

    # ------------------------------------------------------------------ fan-out timing

    def _on_job(self, job: Any) -> None:
        new_block = job.prevhash != self._prevhash  # the first job is a new block too
        self._prevhash = job.prevhash
        started = job.created
        detected = self._block_detected
        if new_block and detected is not None and job.created - 60.0 <= detected <= job.created:
            started = detected
        if new_block:
            self._block_detected = None
        trigger = "new_block" if new_block else "refresh"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._fanout_done(trigger, started)
            return
        # every listener of this publish (the server's fan-out among them) runs first
        loop.call_soon(self._fanout_done, trigger, started)

    def _fanout_done(self, trigger: str, started: float) -> None:
        self.fanout_seconds.labels(trigger).observe(max(0.0, self.clock() - started))

    # ------------------------------------------------------------------ validator timing

    def _instrument_validator(self, validator: Any) -> None:
        if hasattr(validator, "observer"):
            validator.observer = self.observe_batch
            return
        queued = self._queued
        submit = validator.submit
        on_batch = validator._on_batch

        def timed_submit(share: Any) -> None:
            queued[id(share)] = time.perf_counter()
            submit(share)

        def timed_on_batch(batch: list[Any]) -> None:
            now = time.perf_counter()
            first = min((queued.pop(id(s), now) for s in batch), default=now)
            self.observe_batch(len(batch), now - first)
            on_batch(batch)

        validator.submit = timed_submit
        validator._on_batch = timed_on_batch

    # ------------------------------------------------------------------ serving

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, host: str | None = None, port: int | None = None) -> MetricsEndpoint:
        """GET /metrics on the event loop (a scrape sees one consistent moment)."""
        endpoint = MetricsEndpoint(self.registry, name="pool metrics")
        await endpoint.start(self.config.host if host is None else host,
                             self.config.port if port is None else port)  # fmt: skip
        return endpoint

    def rpc_calls(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(method, endpoint) -> (ok, failed) node calls so far."""
        return {k: (v[0], v[1]) for k, v in list(self._rpc_calls.items())}

    def rpc_errors(self) -> dict[tuple[str, str, str], int]:
        return dict(self._rpc_errors)
