"""The batch validator: many shares, one trip to the hashing kernels in a worker thread.

Sessions queue PendingShares as submissions arrive; everything queued while the previous
batch was hashing becomes the next batch, so batches grow with load and a lone share
still goes out within one thread hand-off. The kernels (numba, GIL released) check each
header against its own target: max(share target, network target), so block candidates
are never missed even when the share difficulty is above the network's (regtest).
For the few rows that hit, the exact hash value is computed, block candidates are
reported at once (the node gets them before anything else looks at the share, stale
check included), and then the batch goes back to the caller for the verdicts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import hashing
from pool.jobs.job import Job

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class PendingShare:
    """One submission that passed the cheap checks, waiting for its hash."""

    owner: Any  # the session that submitted it (opaque here)
    request_id: Any
    job: Job
    header: bytes  # 80 bytes
    extranonce1: bytes
    extranonce2: bytes
    worker: str
    difficulty: float  # the session's difficulty for this job
    share_target: int
    check_target_le: bytes  # max(share, network target), 32 bytes little-endian
    dup_key: bytes
    epoch: int  # the job epoch the session saw this job in (stale check)
    dup_group: str  # the duplicate filter's scope (the template's job id)
    hash_value: int | None = field(default=None)  # set for rows that met check target


def target_le(target: int) -> bytes:
    return min(target, (1 << 256) - 1).to_bytes(32, "little")


# Hashing one batch should take about this long on the measured kernel: a share waits
# at most about one event-loop tick for its verdict, however large the backlog.
LATENCY_BUDGET_S = 0.002
MIN_BATCH, MAX_BATCH = 256, 8192
UNMEASURED_RATE = 4e6  # headers/s assumed before `surplus warm` has measured this CPU


def default_max_batch() -> int:
    """Shares per batch: what the chosen kernel hashes in LATENCY_BUDGET_S, one thread."""
    rate = hashing.kernel_rate("batch") or UNMEASURED_RATE
    return int(min(MAX_BATCH, max(MIN_BATCH, rate * LATENCY_BUDGET_S)))


def hash_batch(batch: list[PendingShare]) -> list[PendingShare]:
    """Hash a batch (runs in the worker thread); returns the rows that hit.

    One thread, the chosen kernel: the other cores stay with the event loop. The arrays
    are built writeable so the kernel takes them as they are (no copies).
    """
    n = len(batch)
    headers = np.frombuffer(bytearray(b"".join([s.header for s in batch])), np.uint8)
    targets = np.frombuffer(bytearray(b"".join([s.check_target_le for s in batch])), np.uint8)
    meets = hashing.hash_meets_target(headers.reshape(n, 80), targets.reshape(n, 32), threads=1)
    hits = []
    for i in np.flatnonzero(meets).tolist():
        share = batch[i]
        share.hash_value = int.from_bytes(hashing.sha256d(share.header), "little")
        hits.append(share)
    return hits


def hash_batch_slow(batch: list[PendingShare]) -> list[PendingShare]:
    """hashlib fallback with the same result as hash_batch, one header at a time."""
    hits = []
    for share in batch:
        value = int.from_bytes(hashing.sha256d(share.header), "little")
        if value <= int.from_bytes(share.check_target_le, "little"):
            share.hash_value = value
            hits.append(share)
    return hits


class ShareValidator:
    """Owns the hashing thread. `on_block(share)` is called for each block candidate as
    soon as its batch is hashed; `on_batch(batch)` then gets the whole batch."""

    def __init__(
        self,
        on_block: Callable[[PendingShare], None],
        on_batch: Callable[[list[PendingShare]], None],
        *,
        max_batch: int | None = None,
    ) -> None:
        self._on_block = on_block
        self._on_batch = on_batch
        self.max_batch = max_batch or default_max_batch()
        self._pending: list[PendingShare] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="share-hash")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.in_flight = 0  # shares of the batch being hashed now
        self.batches = 0
        self.hashed = 0

    async def warm_up(self) -> None:
        """Compile/load the kernels off the event loop before the first miner arrives."""
        job_free = np.zeros((1, 80), dtype=np.uint8)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor, hashing.hash_meets_target, job_free, np.zeros((1, 32), np.uint8)
        )

    def submit(self, share: PendingShare) -> None:
        if self._closed:
            raise RuntimeError("the share validator is closed")
        self._pending.append(share)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing being hashed or judged."""
        return self._task is None and not self._pending

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self.in_flight = len(batch)
                try:
                    hits = await loop.run_in_executor(self._executor, hash_batch, batch)
                except Exception:  # a kernel failure must not strand or misjudge shares
                    log.exception("hashing kernels failed on %d shares; using hashlib", len(batch))
                    hits = hash_batch_slow(batch)  # on the loop: the executor may be the fault
                finally:
                    self.in_flight = 0
                self.batches += 1
                self.hashed += len(batch)
                for share in hits:
                    value = share.hash_value
                    if value is not None and value <= share.job.network_target:
                        try:
                            self._on_block(share)
                        except Exception:
                            log.exception("block candidate handler failed")
                try:
                    self._on_batch(batch)
                except Exception:
                    log.exception("share batch handler failed")
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until everything queued so far has been judged."""
        while self._task is not None:
            await asyncio.shield(self._task)

    def close(self) -> None:
        """Stop the hashing thread; call after `drain` (the server's shutdown does)."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
