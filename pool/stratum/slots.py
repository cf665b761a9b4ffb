"""Which process of which host a pool process is, and the extranonce1 space it owns.

Pure and synchronous (the config validates with it, the supervisor and workers use it).
A pool process is `(node_id, index)`: the host's `node_id` (0-255, unique among the
pool's hosts) and its index among the host's `[stratum] processes`. Its extranonce1
prefix is those two bytes, so no two processes of the cluster can hand a miner the same
extranonce1 (the other two bytes count connections: 65,536 per process, six times the
10,000 one process holds). Work of two miners with the same extranonce1 on the same job
would be the same work: a duplicate the ledger cannot tell apart.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MAX_NODE_ID = 255
MAX_PROCESSES = 256  # one byte of the prefix

Processes = int | Literal["auto"]


def process_count(processes: Processes, cpus: int | None = None) -> int:
    """The number of worker processes: `processes`, or one per core for "auto"."""
    if processes == "auto":
        count = cpus if cpus is not None else (os.cpu_count() or 1)
        return max(1, min(MAX_PROCESSES, count))
    return processes


def process_prefix(node_id: int, index: int) -> bytes:
    """The extranonce1 prefix of process `index` of host `node_id`."""
    if not 0 <= node_id <= MAX_NODE_ID:
        raise ValueError(f"node_id must be 0..{MAX_NODE_ID}, got {node_id}")
    if not 0 <= index < MAX_PROCESSES:
        raise ValueError(f"process index must be 0..{MAX_PROCESSES - 1}, got {index}")
    return bytes((node_id, index))


def overlap(prefixes: list[bytes]) -> tuple[bytes, bytes] | None:
    """Two prefixes whose extranonce1 spaces overlap (one starts the other), else None."""
    ordered = sorted(prefixes)
    for a, b in itertools.pairwise(ordered):
        if b.startswith(a):
            return a, b
    return None


@dataclass(frozen=True)
class ProcessSlot:
    """One worker of a cluster: who it is and the Stratum port every worker shares.
    `port` is the port the supervisor reserved (the config's, or one it picked for 0)."""

    node_id: int
    index: int
    count: int
    port: int
    tls_port: int | None = None  # the shared TLS port, when the config has tls_listen
    ledger_socket: Path | None = None  # the SQLite ledger's writer (pool.ledger.remote)

    @property
    def prefix(self) -> bytes:
        return process_prefix(self.node_id, self.index)

    @property
    def label(self) -> str:
        return f"process {self.index}"

    def shifted(self, port: int) -> int:
        """A per-process port (metrics, stats) from the configured one: port + index, or
        0 (a free port each) when the config says 0."""
        return 0 if port == 0 else port + self.index
