"""The configuration one process of a pool cluster runs with.

A host's file describes the whole host (`node_id`, `[stratum] processes = N`); process
`index` of it listens on the port every worker shares (the supervisor reserved it), with
the extranonce1 prefix (node_id, index), and serves /metrics on the configured port +
index (each process is a Prometheus target of its own; `node` and `process` labels tell
their series apart), and its stats API on a free loopback port, which the supervisor
asks and merges into the cluster's (pool.cluster.stats). A SQLite cluster's ledger
writer is the next target: port + N, labelled `process="ledger"`.
"""

from __future__ import annotations

from plumbing.listen import join_host_port
from pool.config import PoolConfig
from pool.stratum.slots import ProcessSlot


def single_slot(config: PoolConfig) -> ProcessSlot | None:
    """The slot of a one-process host that is part of a cluster (`node_id` set), or None
    for a stand-alone pool (which keeps its configured extranonce1_prefix)."""
    if config.node_id is None:
        return None
    return ProcessSlot(config.node_id, 0, 1, config.stratum.port)


def slot_config(config: PoolConfig, slot: ProcessSlot) -> PoolConfig:
    """`config` as process `slot` runs it (no revalidation: every value is derived from
    validated ones)."""
    changes: dict[str, object] = {
        "port": slot.port, "extranonce1_prefix": slot.prefix.hex(), "processes": 1
    }
    tls = config.stratum.tls_address
    if tls is not None and slot.tls_port is not None:
        changes["tls_listen"] = join_host_port(tls[0], slot.tls_port)
    stratum = config.stratum.model_copy(update=changes)
    update: dict[str, object] = {"stratum": stratum}
    metrics = config.metrics
    if metrics is not None and slot.count > 1:
        listen = join_host_port(metrics.host, slot.shifted(metrics.port))
        update["metrics"] = metrics.model_copy(update={"listen": listen})
    stats = config.stats_api
    if stats is not None and slot.count > 1:  # the supervisor serves the configured one
        listen = join_host_port(stats.host, 0)
        update["stats_api"] = stats.model_copy(update={"listen": listen, "page": False})
    return config.model_copy(update=update)


def writer_metrics_listen(config: PoolConfig) -> tuple[str, int] | None:
    """Where a SQLite cluster's ledger writer serves /metrics: after its N workers, on
    the configured port + N (0: a free port); None when `[metrics]` is off."""
    metrics = config.metrics
    if metrics is None or not metrics.enabled:
        return None
    return metrics.host, 0 if metrics.port == 0 else metrics.port + config.process_count


def slot_labels(slot: ProcessSlot) -> dict[str, str]:
    """The labels every metric of the process carries."""
    return {"node": str(slot.node_id), "process": str(slot.index)}
