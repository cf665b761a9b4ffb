"""The Prometheus metrics of a SQLite cluster's ledger writer (pool.cluster.ledger_process):
a target of its own, on the `[metrics]` port + N (the N workers have port + 0 ... N - 1),
every series labelled `node` and `process="ledger"`.

The writer is where a SQLite cluster's shares are committed, so its commits are the
cluster's: the same group commit histograms a pool process with a ledger of its own
exports (`surplus_pool_ledger_commit_seconds`, `..._commit_shares`), the commits and
shares so far, what it is doing now (requests in flight, pool processes connected), the
bans it passed on, and the ledger gauges it alone can know as the leader (quarantined
payout accounts; `surplus_pool_ledger_leader` is 1 here, 0 on the workers). Everything
but the histograms is read from the live server and committer at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from plumbing.endpoint import MetricsEndpoint
from pool.metrics.collector import ledger_families
from pool.metrics.labels import LabelledRegistry
from pool.metrics.registry import ledger_commit_histograms

if TYPE_CHECKING:
    from pool.ledger.ledger import Ledger
    from pool.ledger.writer_server import WriterServer


class WriterMetrics:
    """The writer's registry; `attach` the server and ledger once they run."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.registry = LabelledRegistry(labels)
        self.commit_seconds, self.commit_rows = ledger_commit_histograms(self.registry)
        ProcessCollector(namespace="surplus_pool", registry=self.registry)
        self.server: WriterServer | None = None
        self.ledger: Ledger | None = None
        self.quarantined_accounts: int | None = None
        self.registry.register(WriterCollector(self))

    def attach(self, server: WriterServer, ledger: Ledger) -> None:
        self.server = server
        self.ledger = ledger

    def observe_commit(self, rows: int, seconds: float) -> None:
        """Ledger.open(..., on_commit=...): one group commit (on the committer's thread)."""
        self.commit_seconds.observe(seconds)
        self.commit_rows.observe(rows)

    def quarantined(self, accounts: int) -> None:
        """LedgerDuties' `on_quarantined`: how many accounts payouts skip now."""
        self.quarantined_accounts = accounts

    async def serve(self, host: str, port: int) -> MetricsEndpoint:
        """GET /metrics (OSError when the port is taken: the caller names the key)."""
        endpoint = MetricsEndpoint(self.registry, name="ledger writer metrics")
        await endpoint.start(host, port)
        return endpoint


class WriterCollector:
    """What the writer's server and committer count, read when Prometheus asks."""

    def __init__(self, metrics: WriterMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # nothing to read before the server runs; skip the pre-check

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield from ledger_families(m.quarantined_accounts, True)
        server, ledger = m.server, m.ledger
        if server is None or ledger is None:
            return
        committer = ledger.committer
        read: tuple[tuple[type[CounterMetricFamily | GaugeMetricFamily], str, str, float], ...] = (
            (CounterMetricFamily, "surplus_pool_ledger_commits",
             "Group commits of shares, every pool process's together", committer.commits),
            (CounterMetricFamily, "surplus_pool_ledger_committed_shares",
             "Shares committed (and answered to their pool process)", committer.rows),
            (GaugeMetricFamily, "surplus_pool_ledger_writer_requests_in_flight",
             "Requests of the pool processes being handled now", server.in_flight),
            (GaugeMetricFamily, "surplus_pool_ledger_writer_connections",
             "Pool processes connected to the writer", server.connections),
            (CounterMetricFamily, "surplus_pool_ledger_writer_refused_connections",
             "Connections closed for breaking the protocol", server.refused),
        )  # fmt: skip
        for family, name, documentation, value in read:
            yield family(name, documentation, value=value)
        requests = CounterMetricFamily("surplus_pool_ledger_writer_requests",
                                       "Requests of the pool processes, by kind",
                                       labels=["op"])  # fmt: skip
        for op, count in sorted(server.requests.items()):
            requests.add_metric([op], count)
        yield requests
        bans = CounterMetricFamily("surplus_pool_ledger_writer_ban_pushes",
                                   "Bans passed on to the other pool processes, and those a "
                                   "process missed (it was not reading)", labels=["result"])
        bans.add_metric(["pushed"], server.pushed)
        bans.add_metric(["missed"], server.missed)
        yield bans
