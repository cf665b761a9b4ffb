"""The pool's own observability: the Prometheus endpoint of `[metrics]` and the JSON stats
API of `[stats_api]`, wired into a PoolApp by the app itself.

One `PoolObservers` per PoolApp. It decides from the config what runs, and hands the app
each hook at the point of start-up where it belongs:

    node         an RpcNode the app builds gets `on_call` (each round trip, per endpoint);
                 any other node (the devnet, or one handed in) is timed in place
    ledger       `on_commit` (group commit latency and size)
    server       the per-worker accounting in front of its share sink, then `attach`
                 (scrape-time reads, fan-out and validator timing)
    watcher      `block_detected` first thing on a new tip (fan-out is timed from there)

The worker accounting lives in PoolMetrics, so a stats API without `[metrics]` still
builds one (it is just not served). Both endpoints start before Stratum accepts miners,
so a port already taken stops the start-up with the key to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plumbing.endpoint import MetricsEndpoint, http_url
from pool.app_node import PoolStartupError
from pool.config import PoolConfig
from pool.hashrate_history import HashrateHistory
from pool.metrics.config import MetricsSection
from pool.metrics.labels import LabelledRegistry
from pool.metrics.registry import PoolMetrics
from pool.miner_view import MinerView, PoolFacts
from pool.node.devnet import DevnetNode
from pool.stats_api import PoolView, StatsApi
from pool.stats_miner import MinerApi
from pool.web_page import WebPage

if TYPE_CHECKING:
    from pool.node.transport import CallRecord
    from pool.shares.accepted import ShareSink
    from pool.stratum.server import StratumServer


class PoolObservers:
    """The metrics endpoint and the stats API a pool's config asks for (either, both or
    neither); every method is a no-op for the parts that are off."""

    def __init__(self, config: PoolConfig, labels: dict[str, str] | None = None) -> None:
        """`labels`: carried by every metric (a cluster process's `node` and `process`)."""
        metrics = config.metrics if config.metrics is not None and config.metrics.enabled \
            else None  # fmt: skip
        stats = config.stats_api if config.stats_api is not None and config.stats_api.enabled \
            else None  # fmt: skip
        self._serve_metrics = metrics is not None
        self._stats_config = stats
        self._config = config
        self.metrics: PoolMetrics | None = None
        if metrics is not None or stats is not None:
            # the worker book lives in PoolMetrics: the stats API needs it, served or not
            self.metrics = PoolMetrics(
                metrics or MetricsSection(enabled=False),
                registry=None if labels is None else LabelledRegistry(labels),
            )
            if stats is not None:  # the page's charts
                self.metrics.history = HashrateHistory(stats.history_accounts)
        self.endpoint: MetricsEndpoint | None = None
        self.stats_api: StatsApi | None = None
        self._undo_node: Callable[[], None] | None = None

    # ------------------------------------------------------------------ hooks

    @property
    def on_call(self) -> Callable[[CallRecord], None] | None:
        """For the RpcNode the app builds itself."""
        return None if self.metrics is None else self.metrics.observe_rpc

    @property
    def on_commit(self) -> Callable[[int, float], None] | None:
        """For Ledger.open."""
        return None if self.metrics is None else self.metrics.observe_ledger_commit

    def time_node(self, node: Any) -> None:
        """Time the Node calls of a node without our `on_call` hook (the devnet, or one the
        caller handed in), keeping the object itself."""
        if self.metrics is None:
            return
        endpoint = "devnet" if isinstance(node, DevnetNode) else str(getattr(node, "name", "node"))
        self._undo_node = self.metrics.instrument_node(node, endpoint)

    def sink(self, sink: ShareSink | None) -> ShareSink | None:
        """The sink the Stratum server records shares in: the per-worker accounting first."""
        return sink if self.metrics is None else self.metrics.wrap_sink(sink)

    def attach(self, server: StratumServer) -> None:
        if self.metrics is not None:
            self.metrics.attach(server)

    def block_detected(self) -> None:
        if self.metrics is not None:
            self.metrics.block_detected()

    def leader(self, leading: bool) -> None:
        """Whether this process leads the ledger now."""
        if self.metrics is not None:
            self.metrics.ledger_leader = leading

    def quarantined(self, accounts: int) -> None:
        """How many accounts payouts skip now (read from the ledger)."""
        if self.metrics is not None:
            self.metrics.quarantined_accounts = accounts

    # ------------------------------------------------------------------ serving

    async def start(
        self, server: StratumServer, confirmed: Callable[[], int] | None = None,
        facts: PoolFacts | None = None,
    ) -> None:
        """Serve what is configured; PoolStartupError naming the key when a port is taken."""
        if self.metrics is None:
            return
        if self._serve_metrics:
            cfg = self.metrics.config
            self.endpoint = MetricsEndpoint(self.metrics.registry, name="pool metrics")
            try:
                await self.endpoint.start(cfg.host, cfg.port)
            except OSError as exc:
                raise PoolStartupError(
                    f"metrics.listen: cannot listen on {cfg.listen}: {exc.strerror or exc}"
                ) from None
        if self._stats_config is not None:
            view = PoolView(server, self.metrics.workers, confirmed=confirmed)
            api = self.stats_api = StatsApi(view, self._stats_config,
                                            self._miner_page(server, facts))  # fmt: skip
            try:
                await api.start()
            except OSError as exc:
                raise PoolStartupError(
                    f"stats_api.listen: cannot listen on {api.config.listen}: "
                    f"{exc.strerror or exc}"
                ) from None

    def _miner_page(self, server: StratumServer, facts: PoolFacts | None) -> list[Any]:
        """The miners' page's endpoints, and the page itself when `page` is on."""
        stats, metrics = self._stats_config, self.metrics
        assert stats is not None and metrics is not None and metrics.history is not None
        view = MinerView(server, metrics.workers, metrics.rejects, metrics.history,
                         self._config, stats, facts)  # fmt: skip
        extensions: list[Any] = [MinerApi(view)]
        if stats.page:
            extensions.append(WebPage())
        return extensions

    @property
    def metrics_url(self) -> str | None:
        return None if self.endpoint is None else self.endpoint.url

    @property
    def stats_url(self) -> str | None:
        """The API's base URL (its summary is at `stats_url + "/api/v1/pool"`)."""
        api = self.stats_api
        if api is None or api.address is None:
            return None
        return http_url(api.address)

    async def close(self) -> None:
        """Stop serving and unhook (idempotent)."""
        if self.stats_api is not None:
            await self.stats_api.close()
            self.stats_api = None
        if self.endpoint is not None:
            await self.endpoint.close()
            self.endpoint = None
        if self.metrics is not None:
            self.metrics.detach()
            await self.metrics.workers.close()
        if self._undo_node is not None:
            self._undo_node()
            self._undo_node = None
