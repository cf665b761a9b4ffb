"""Prometheus metrics of the pool, read from the live objects at scrape time.

Most figures already exist as plain attributes of the Stratum server (`ServerStats`,
the session set, the block list, the current job), so a custom collector reads them when
Prometheus asks: nothing is counted twice and a scrape always shows one consistent moment
(the endpoint runs on the event loop, between two callbacks). Distributions the objects
do not keep (fan-out, validation batches, node calls, ledger commits) are Histograms fed
through small hooks:

    metrics = PoolMetrics(MetricsConfig())
    sink = metrics.wrap_sink(ledger_sink)            # per-worker accounting
    node = RpcNode(urls, on_call=metrics.observe_rpc) # or metrics.wrap_node(devnet)
    ledger = await Ledger.open(cfg, on_commit=metrics.observe_ledger_commit)
    server = StratumServer(cfg, feed, node, sink)
    metrics.attach(server)
    runner = await metrics.serve()                   # GET /metrics on 127.0.0.1:9101

Label sets are bounded: share results by reject reason (six codes), node calls by
method and configured endpoint, workers only for the top `top_workers` by hashrate.
One CollectorRegistry per PoolMetrics, so tests run several pools in one process.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector
from pydantic import BaseModel, ConfigDict, Field

from pool.bitcoin.target import DIFF1_TARGET
from pool.shares.accepted import failed_rows
from pool.workers import HASHES_PER_DIFF1, WorkerBook, WorkerView

__all__ = ["HASHES_PER_DIFF1", "MetricsConfig", "PoolMetrics", "WorkerBook", "WorkerView"]

if TYPE_CHECKING:
    from pool.node.transport import CallRecord
    from pool.shares.accepted import AcceptedShare, ShareSink
    from pool.stratum.server import StratumServer

log = logging.getLogger(__name__)

# Stratum error code -> the `result` label of surplus_pool_shares_total
REJECT_REASONS: dict[int, str] = {
    20: "other",
    21: "stale",  # job not found or stale
    22: "duplicate",
    23: "low_difficulty",
    24: "unauthorized",
    25: "not_subscribed",
}
SHARE_RESULTS = ("accepted", *REJECT_REASONS.values())

# share difficulty buckets: powers of 4 from 2^-32 (CPU test miners) to 2^48 (big ASIC farms)
DIFFICULTY_BUCKETS = tuple(2.0**e for e in range(-32, 49, 2))
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)


class MetricsConfig(BaseModel):
    """What PoolMetrics runs with; PoolApp builds it from the pool's `[metrics]` section
    (pool.config.MetricsSection) through `from_section`::

    [metrics]
    listen = "127.0.0.1"
    port = 9101
    top_workers = 50
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = True
    host: str = Field("127.0.0.1", description="listen address of GET /metrics")
    port: int = Field(9101, ge=0, le=65535, description="0 picks a free port")
    top_workers: int = Field(50, ge=0, le=10_000, description="per-worker series, at most")
    worker_window_s: float = Field(600.0, gt=0, description="hashrate estimate window")
    max_tracked_workers: int = Field(
        100_000, ge=1, description="workers the book keeps; the longest silent goes first"
    )
    process_metrics: bool = True

    @classmethod
    def from_section(cls, section: Any) -> MetricsConfig:
        """From another model of the `[metrics]` section (pool.config's MetricsSection:
        `listen` and `port`), keeping the defaults for the knobs it does not have."""
        if section is None:
            return cls(enabled=False)
        data = section.model_dump() if hasattr(section, "model_dump") else dict(section)
        if "listen" in data:
            data["host"] = data.pop("listen")
        return cls(**{k: v for k, v in data.items() if k in cls.model_fields})


class MeteredSink:
    """A ShareSink in front of the real one (ledger, memory, or none): it times the
    store and credits each worker once the store has returned."""

    def __init__(self, inner: ShareSink | None, metrics: PoolMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> Any:
        started = time.perf_counter()
        result = None
        stored = shares
        try:
            if self.inner is not None:
                result = await self.inner.record_shares(shares)
        except Exception as exc:  # credit what the store kept, as the miners are answered
            failed = failed_rows(exc, len(shares))
            stored = [s for i, s in enumerate(shares) if i not in failed]
            raise
        finally:
            self.metrics.share_commit_seconds.observe(time.perf_counter() - started)
            book = self.metrics.workers
            for share in stored:
                book.record(share.worker, share.difficulty, share.time)
        return result

    def __getattr__(self, name: str) -> Any:  # block_share_id and friends of the ledger sink
        if self.inner is None:
            raise AttributeError(name)
        return getattr(self.inner, name)


class TimedNode:
    """The Node contract in front of a node without its own call hook (the devnet), so
    node latency and errors are exported the same way as RpcNode's `on_call` records."""

    _TIMED = frozenset({
        "getblocktemplate", "submitblock", "getbestblockhash", "getblockhash",
        "getblockcount", "getblock", "address_script",
    })  # fmt: skip

    def __init__(self, node: Any, metrics: PoolMetrics, endpoint: str = "devnet") -> None:
        self._node = node
        self._metrics = metrics
        self._endpoint = endpoint

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._node, name)
        if name not in self._TIMED or not callable(attr):
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = await attr(*args, **kwargs)
            except Exception as exc:
                self._metrics.observe_call(name, self._endpoint, time.perf_counter() - started,
                                           type(exc).__name__)  # fmt: skip
                raise
            self._metrics.observe_call(name, self._endpoint, time.perf_counter() - started, None)
            return result

        return timed


# ---------------------------------------------------------------------- the metrics


class PoolMetrics:
    """The pool's registry: a collector over the server plus hook-fed histograms."""

    def __init__(
        self,
        config: MetricsConfig | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or MetricsConfig()
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.workers = WorkerBook(self.config.worker_window_s, clock=clock,
                                  max_workers=self.config.max_tracked_workers)
        self.server: StratumServer | None = None
        r = self.registry
        self.fanout_seconds = Histogram(
            "surplus_pool_fanout_seconds",
            "From a new job (its template in hand, or the new block's detection when the "
            "app reports it) to the last session's mining.notify written",
            ["trigger"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        for trigger in ("new_block", "refresh"):
            self.fanout_seconds.labels(trigger)
        self.batch_size = Histogram(
            "surplus_pool_validation_batch_shares", "Shares hashed per validator batch",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "surplus_pool_validation_batch_seconds",
            "From the oldest share of a batch being queued to its verdicts",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rpc_seconds = Histogram(
            "surplus_pool_node_rpc_seconds", "Node calls by method and endpoint",
            ["method", "endpoint"], buckets=RPC_BUCKETS, registry=r,
        )  # fmt: skip
        self._rpc_calls: dict[tuple[str, str], list[int]] = {}  # -> [ok, failed]
        self._rpc_errors: dict[tuple[str, str, str], int] = {}
        self.ledger_commit_seconds = Histogram(
            "surplus_pool_ledger_commit_seconds", "One group commit of shares to the ledger",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ledger_commit_rows = Histogram(
            "surplus_pool_ledger_commit_shares", "Shares per ledger group commit",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.share_commit_seconds = Histogram(
            "surplus_pool_share_commit_seconds",
            "A validated batch's wait for its commit in the share store (the ledger's group "
            "commit, as the miners waiting for their answer see it)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        if self.config.process_metrics:
            ProcessCollector(namespace="surplus_pool", registry=r)
        self._collector = PoolCollector(self)
        r.register(self._collector)
        self.quarantined_accounts: int | None = None  # payouts skip them (the ledger's)
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
        current = server.jobs.current
        self._prevhash = None if current is None else current.prevhash
        self._unsubscribe = server.jobs.subscribe(self._on_job)
        if instrument_validator:
            self._instrument_validator(server.validator)

    def instrument_app(self, app: Any) -> None:
        """Wire a started PoolApp that does not wire metrics itself: read its server, time
        its fan-outs and validator batches, and put the per-worker accounting in front of
        the sink its server records shares in."""
        server = app.server
        if server is None:
            raise RuntimeError("start the PoolApp before instrumenting it")
        self.attach(server)
        if not isinstance(server.sink, MeteredSink):
            server.sink = self.wrap_sink(server.sink)

    def detach(self) -> None:
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
        endpoint = MetricsEndpoint(self.registry)
        await endpoint.start(self.config.host if host is None else host,
                             self.config.port if port is None else port)  # fmt: skip
        return endpoint

    def rpc_calls(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(method, endpoint) -> (ok, failed) node calls so far."""
        return {k: (v[0], v[1]) for k, v in list(self._rpc_calls.items())}

    def rpc_errors(self) -> dict[tuple[str, str, str], int]:
        return dict(self._rpc_errors)


class MetricsEndpoint:
    """An aiohttp server with GET /metrics for one registry (text or OpenMetrics, as the
    scraper asks)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        try:
            await web.TCPSite(self.runner, host, port).start()
        except OSError:  # the port is taken: release the runner, report the bind
            await self.close()
            raise
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info("metrics on http://%s:%d/metrics", *self.address)
        return self.address

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


# ---------------------------------------------------------------------- the collector


def _difficulty_buckets(
    values: Iterable[float] | dict[float, int],
) -> tuple[list[tuple[str, float]], float]:
    """Cumulative buckets of difficulties: a list of values, or {difficulty: count} (the
    server keeps its working connections' difficulties that way)."""
    counted = values if isinstance(values, dict) else {}
    if not isinstance(values, dict):
        for v in values:
            counted[v] = counted.get(v, 0) + 1
    counts = [0] * (len(DIFFICULTY_BUCKETS) + 1)
    total = 0.0
    for v, n in counted.items():
        counts[bisect.bisect_left(DIFFICULTY_BUCKETS, v)] += n
        total += v * n
    out, running = [], 0
    for bound, n in zip(DIFFICULTY_BUCKETS, counts, strict=False):
        running += n
        out.append((repr(float(bound)), float(running)))
    out.append(("+Inf", float(running + counts[-1])))
    return out, total


class PoolCollector:
    """Everything read from the live server when Prometheus scrapes."""

    def __init__(self, metrics: PoolMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # names are not fixed before a server is attached; skip the pre-check

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield from self._workers(m)
        yield from self._rpc_errors(m)
        if m.quarantined_accounts is not None:
            yield GaugeMetricFamily(
                "surplus_pool_payout_quarantined_accounts",
                "Accounts payouts skip: no payout address, or one the wallet refused "
                "(surplus ledger payouts lists them)", value=m.quarantined_accounts,
            )  # fmt: skip
        server = m.server
        if server is None:
            return
        stats = server.stats
        now = m.clock()

        conns = GaugeMetricFamily("surplus_pool_connections", "Open Stratum connections",
                                  labels=["state"])  # fmt: skip
        conns.add_metric(["open"], len(server.sessions))
        conns.add_metric(["subscribed"], server.subscribed_count)
        conns.add_metric(["authorized"], server.authorized_count)
        yield conns
        yield GaugeMetricFamily("surplus_pool_authorized_workers",
                                "Worker names authorized on open connections",
                                value=server.authorized_names)  # fmt: skip
        buckets, total = _difficulty_buckets(dict(server.difficulties))
        dist = GaugeHistogramMetricFamily(
            "surplus_pool_connection_difficulty",
            "Share difficulty of every working connection now (a distribution, not a rate)",
            buckets=buckets, gsum_value=total,
        )  # fmt: skip
        yield dist

        shares = CounterMetricFamily("surplus_pool_shares", "Shares judged, by result",
                                     labels=["result"])  # fmt: skip
        shares.add_metric(["accepted"], stats.accepted)
        rejected = dict(stats.rejected)
        for code, reason in REJECT_REASONS.items():
            shares.add_metric([reason], rejected.get(code, 0))
        unknown = sum(n for code, n in rejected.items() if code not in REJECT_REASONS)
        if unknown:
            shares.add_metric(["other_code"], unknown)
        yield shares
        yield CounterMetricFamily(
            "surplus_pool_accepted_difficulty",
            "Summed difficulty of accepted shares; rate() x 2^32 is the pool's hashrate",
            value=stats.credited,
        )  # fmt: skip

        blocks = list(server.blocks)
        yield CounterMetricFamily("surplus_pool_blocks_found",
                                  "Block candidates found (sent to the node)",
                                  value=stats.blocks_found)  # fmt: skip
        submitted = CounterMetricFamily("surplus_pool_blocks_submitted",
                                        "Block candidates the node answered, by its answer",
                                        labels=["result"])  # fmt: skip
        rejected_blocks = sum(1 for b in blocks if b.result is not None)
        submitted.add_metric(["accepted"], stats.blocks_accepted)
        submitted.add_metric(["rejected"], rejected_blocks)
        yield submitted
        accepted_blocks = [b for b in blocks if b.result is None]
        if accepted_blocks:
            last = accepted_blocks[-1]
            yield GaugeMetricFamily("surplus_pool_last_block_height",
                                    "Height of the last block the pool found and the node took",
                                    value=last.height)  # fmt: skip
            yield GaugeMetricFamily("surplus_pool_last_block_timestamp_seconds",
                                    "When the pool's last accepted block was submitted",
                                    value=last.submitted_at)  # fmt: skip

        job = server.jobs.current
        if job is not None:
            yield GaugeMetricFamily("surplus_pool_template_age_seconds",
                                    "Age of the job miners work on now",
                                    value=max(0.0, now - job.created))  # fmt: skip
            yield GaugeMetricFamily("surplus_pool_block_height", "Height of the current job",
                                    value=job.height)  # fmt: skip
            yield GaugeMetricFamily("surplus_pool_network_difficulty",
                                    "Network difficulty of the current job",
                                    value=DIFF1_TARGET / job.network_target)  # fmt: skip
        yield GaugeMetricFamily("surplus_pool_last_fanout_seconds",
                                "The server's own timing of its last fan-out (encode + writes)",
                                value=stats.last_fanout_ms / 1000.0)  # fmt: skip
        yield GaugeMetricFamily("surplus_pool_last_fanout_sessions",
                                "Sessions the last job was written to",
                                value=stats.last_fanout_sessions)  # fmt: skip

        refused = CounterMetricFamily("surplus_pool_connections_refused",
                                      "Connections refused at accept", labels=["reason"])
        refused.add_metric(["full"], stats.refused_full)
        refused.add_metric(["banned"], stats.refused_banned)
        refused.add_metric(["per_address"], stats.refused_per_ip)
        yield refused
        closed = CounterMetricFamily("surplus_pool_connections_dropped",
                                     "Connections the pool closed", labels=["reason"])
        closed.add_metric(["slow_reader"], stats.dropped_slow)
        closed.add_metric(["no_subscribe"], stats.idle_closed)
        closed.add_metric(["no_authorize"], stats.unauthorized_closed)
        closed.add_metric(["line_timeout"], stats.line_timeouts)
        closed.add_metric(["protocol_error"], stats.protocol_errors)
        closed.add_metric(["banned"], stats.bans)
        yield closed
        yield CounterMetricFamily("surplus_pool_internal_errors",
                                  "Requests that raised inside the pool (answered 20; a bug)",
                                  value=stats.internal_errors)  # fmt: skip

        validator = server.validator
        yield GaugeMetricFamily("surplus_pool_validation_queue_shares",
                                "Shares waiting for the hashing thread", value=validator.queued)
        yield CounterMetricFamily("surplus_pool_validation_batches",
                                  "Batches hashed", value=validator.batches)
        yield CounterMetricFamily("surplus_pool_validation_hashed_shares",
                                  "Shares hashed by the validator", value=validator.hashed)

    def _workers(self, m: PoolMetrics) -> Iterator[Metric]:
        now = m.clock()
        book = m.workers
        yield GaugeMetricFamily("surplus_pool_active_workers",
                                "Workers with an accepted share within the window",
                                value=book.active(now))  # fmt: skip
        yield GaugeMetricFamily("surplus_pool_hashrate_estimate_hashes_per_second",
                                "Pool hashrate estimated over the worker window",
                                value=book.total_hashrate(now))  # fmt: skip
        yield GaugeMetricFamily("surplus_pool_tracked_workers",
                                "Workers in the per-worker book (bounded by max_tracked_workers)",
                                value=len(book))  # fmt: skip
        yield CounterMetricFamily("surplus_pool_tracked_workers_evicted",
                                  "Workers dropped from the book to stay within its bound",
                                  value=book.evicted)  # fmt: skip
        top = book.top(m.config.top_workers, now)
        rate = GaugeMetricFamily("surplus_pool_worker_hashrate_hashes_per_second",
                                 f"Estimated hashrate of the top {m.config.top_workers} workers",
                                 labels=["worker"])  # fmt: skip
        acc = CounterMetricFamily("surplus_pool_worker_accepted_difficulty",
                                  "Summed difficulty of a top worker's accepted shares",
                                  labels=["worker"])  # fmt: skip
        for v in top:
            rate.add_metric([v.worker], v.hashrate)
            acc.add_metric([v.worker], v.difficulty_total)
        yield rate
        yield acc

    def _rpc_errors(self, m: PoolMetrics) -> Iterator[Metric]:
        calls = CounterMetricFamily("surplus_pool_node_rpc_calls",
                                    "Node calls by method, endpoint and result",
                                    labels=["method", "endpoint", "result"])  # fmt: skip
        for (method, endpoint), (ok, failed) in sorted(m.rpc_calls().items()):
            calls.add_metric([method, endpoint, "ok"], ok)
            calls.add_metric([method, endpoint, "error"], failed)
        yield calls
        errors = CounterMetricFamily("surplus_pool_node_rpc_errors",
                                     "Failed node calls by method, endpoint and error kind",
                                     labels=["method", "endpoint", "error"])  # fmt: skip
        for (method, endpoint, error), n in sorted(m.rpc_errors().items()):
            errors.add_metric([method, endpoint, error], n)
        yield errors
