"""What Prometheus reads from the live pool at scrape time: the Stratum server's own
figures (`ServerStats`, the session set, the block list, the current job), the worker
book and the node-call counts, each turned into metric families when asked, so nothing
is counted twice and a scrape is one consistent moment."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from pool.bitcoin.target import DIFF1_TARGET

if TYPE_CHECKING:
    from pool.metrics.config import MetricsSection
    from pool.stratum.server import StratumServer
    from pool.workers import WorkerBook


class ScrapeSource(Protocol):
    """What a scrape reads (pool.metrics.registry.ScrapeSource provides it): the
    collector depends on this, not on the registry that owns it."""

    config: MetricsSection
    workers: WorkerBook
    server: StratumServer | None
    quarantined_accounts: int | None
    ledger_leader: bool | None

    def clock(self) -> float: ...
    def rpc_calls(self) -> dict[tuple[str, str], tuple[int, int]]: ...
    def rpc_errors(self) -> dict[tuple[str, str, str], int]: ...

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


def _by(family: GaugeMetricFamily | CounterMetricFamily, **values: float) -> Metric:
    """`family` with one sample per keyword: its one label's value, and the sample."""
    for label, value in values.items():
        family.add_metric([label], value)
    return family


def ledger_families(quarantined: int | None, leader: bool | None) -> Iterator[Metric]:
    """The ledger's gauges, as a pool process and a SQLite cluster's ledger writer
    (pool.metrics.writer) export them; None: not known here."""
    if quarantined is not None:
        yield GaugeMetricFamily(
            "surplus_pool_payout_quarantined_accounts",
            "Accounts payouts skip: no payout address, or one the wallet refused "
            "(surplus ledger payouts lists them)", value=quarantined,
        )  # fmt: skip
    if leader is not None:
        yield GaugeMetricFamily(
            "surplus_pool_ledger_leader",
            "1 while this process leads the ledger (follows blocks to maturity and settles "
            "for the whole cluster: PostgreSQL's advisory lock holder, or SQLite's writer)",
            value=1.0 if leader else 0.0,
        )


class PoolCollector:
    """Everything read from the live server when Prometheus scrapes."""

    def __init__(self, metrics: ScrapeSource) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # names are not fixed before a server is attached; skip the pre-check

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield from self._workers(m)
        yield from self._rpc_errors(m)
        yield from ledger_families(m.quarantined_accounts, m.ledger_leader)
        server = m.server
        if server is None:
            return
        stats = server.stats
        now = m.clock()

        yield _by(GaugeMetricFamily("surplus_pool_connections", "Open Stratum connections",
                                    labels=["state"]), open=len(server.sessions),
                  subscribed=server.subscribed_count, authorized=server.authorized_count)
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
        yield _by(CounterMetricFamily("surplus_pool_blocks_submitted",
                                      "Block candidates the node answered, by its answer",
                                      labels=["result"]), accepted=stats.blocks_accepted,
                  rejected=sum(1 for b in blocks if b.result is not None))  # fmt: skip
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

        yield _by(CounterMetricFamily("surplus_pool_connections_refused",
                                      "Connections refused at accept", labels=["reason"]),
                  full=stats.refused_full, banned=stats.refused_banned,
                  per_address=stats.refused_per_ip)  # fmt: skip
        yield _by(CounterMetricFamily("surplus_pool_connections_dropped",
                                      "Connections the pool closed", labels=["reason"]),
                  slow_reader=stats.dropped_slow, no_subscribe=stats.idle_closed,
                  no_authorize=stats.unauthorized_closed, line_timeout=stats.line_timeouts,
                  protocol_error=stats.protocol_errors, banned=stats.bans)  # fmt: skip
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

    def _workers(self, m: ScrapeSource) -> Iterator[Metric]:
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

    def _rpc_errors(self, m: ScrapeSource) -> Iterator[Metric]:
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
