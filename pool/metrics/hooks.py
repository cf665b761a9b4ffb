"""Hooks that time what the pool's objects do not time themselves: a share sink that
credits each worker once the store returns, and a node wrapper that times every call of
a node without its own `on_call` hook (the devnet)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pool.shares.accepted import failed_rows

if TYPE_CHECKING:
    from prometheus_client import Histogram

    from pool.hashrate_history import HashrateHistory
    from pool.shares.accepted import AcceptedShare, ShareSink
    from pool.workers import WorkerBook


class SinkMeter(Protocol):
    """Where MeteredSink puts its figures (pool.metrics.registry.PoolMetrics)."""

    share_commit_seconds: Histogram
    workers: WorkerBook
    history: HashrateHistory | None


class CallMeter(Protocol):
    """Where TimedNode puts its figures (pool.metrics.registry.PoolMetrics)."""

    def observe_call(self, method: str, endpoint: str, seconds: float,
                     error: str | None) -> None: ...


class MeteredSink:
    """A ShareSink in front of the real one (ledger, memory, or none): it times the
    store and credits each worker once the store has returned."""

    def __init__(self, inner: ShareSink | None, metrics: SinkMeter) -> None:
        self.inner = inner
        self.metrics = metrics

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> Any:
        started = time.perf_counter()
        result = None
        stored = shares
        try:
            if self.inner is not None:
                result = await self.inner.record_shares(shares)  # the ledger's returns row ids
        except Exception as exc:  # credit what the store kept, as the miners are answered
            failed = failed_rows(exc, len(shares))
            stored = [s for i, s in enumerate(shares) if i not in failed]
            raise
        finally:
            self.metrics.share_commit_seconds.observe(time.perf_counter() - started)
            book = self.metrics.workers
            for share in stored:
                book.record(share.worker, share.difficulty, share.time, share.share_difficulty)
            history = self.metrics.history
            if history is not None:
                for share in stored:
                    history.add(share.username, share.difficulty, share.time)
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

    def __init__(self, node: Any, metrics: CallMeter, endpoint: str = "devnet") -> None:
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

