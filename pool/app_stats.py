"""What the running pool reports about itself: counters the controller bumps, and the
snapshot (`PoolStats`) that tests, the demo and the metrics exporter read.

Kept as plain data so reading it never touches the event loop's objects in a way that
could race; `PoolApp.stats` builds a fresh snapshot on each access.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class BlockOutcome:
    """One block candidate the pool submitted, and what became of it."""

    height: int
    hash: str  # display hex
    worker: str
    job_id: str
    reason: str | None  # the node's reject reason; None when submitblock accepted it
    confirmed: bool = False  # getblockhash(height) == hash after the submission
    recorded: bool = False  # in the ledger (pool mode)
    reward: int | None = None  # coinbase value in satoshis, when known
    followed: bool = False  # the follow-up (confirmation, ledger) is over
    submitted_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class Counters:
    templates: int = 0  # templates fetched and published as jobs
    clean_jobs: int = 0  # of those, new-tip (clean) jobs
    refreshes: int = 0
    template_errors: int = 0
    blocks_submitted: int = 0
    blocks_rejected: int = 0  # the node gave a reject reason
    blocks_confirmed: int = 0  # on the active chain at their height
    blocks_unconfirmed: int = 0  # accepted by submitblock but not the block at its height
    blocks_recorded: int = 0
    ledger_errors: int = 0
    restarts: int = 0  # supervised loops restarted after an error


@dataclass(frozen=True, slots=True)
class PoolStats:
    mode: str
    network: str
    stratum_address: tuple[str, int]
    height: int | None  # the height the current job builds on top of the tip
    tip: str | None
    sessions: int
    accepted: int
    credited: float  # summed difficulty of accepted shares
    rejected: dict[int, int]
    templates: int
    clean_jobs: int
    refreshes: int
    template_errors: int
    blocks_submitted: int
    blocks_rejected: int
    blocks_confirmed: int
    blocks_unconfirmed: int
    blocks_recorded: int
    ledger_errors: int
    restarts: int
    last_fanout_ms: float
    uptime: float
