"""Prometheus metrics of the pool, read from the live objects at scrape time.

Most figures already exist as plain attributes of the Stratum server (`ServerStats`,
the session set, the block list, the current job), so a custom collector reads them when
Prometheus asks: nothing is counted twice and a scrape always shows one consistent moment
(the endpoint runs on the event loop, between two callbacks). Distributions the objects
do not keep (fan-out, validation batches, node calls, ledger commits) are Histograms fed
through small hooks:

    metrics = PoolMetrics(MetricsSection())
    sink = metrics.wrap_sink(ledger_sink)            # per-worker accounting
    node = RpcNode(urls, on_call=metrics.observe_rpc) # or metrics.wrap_node(devnet)
    ledger = await Ledger.open(cfg, on_commit=metrics.observe_ledger_commit)
    server = StratumServer(cfg, feed, node, sink)
    metrics.attach(server)
    endpoint = await metrics.serve()                 # GET /metrics on 127.0.0.1:9101

One concern a module:

- `config`: the `[metrics]` table (plumbing.listen's shape plus the per-worker knobs);
- `hooks`: the share sink and node wrappers that time and credit;
- `registry`: `PoolMetrics`, its Histograms and the wiring of each hook;
- `collector`: what is read from the live server at scrape time;
- serving is plumbing.endpoint's, shared with fleetd and rigsim.

Label sets are bounded: share results by reject reason (six codes), node calls by
method and configured endpoint, workers only for the top `top_workers` by hashrate.
One CollectorRegistry per PoolMetrics, so tests run several pools in one process.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported when first used: the pool's config reads `pool.metrics.config` and must not
# pull in prometheus_client and aiohttp with it.
_EXPORTS = {
    "DIFFICULTY_BUCKETS": "pool.metrics.collector",
    "REJECT_REASONS": "pool.metrics.collector",
    "SHARE_RESULTS": "pool.metrics.collector",
    "MetricsSection": "pool.metrics.config",
    "PoolMetrics": "pool.metrics.registry",
    "HASHES_PER_DIFF1": "pool.workers",
    "WorkerBook": "pool.workers",
    "WorkerView": "pool.workers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pool.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
