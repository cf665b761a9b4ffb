"""Job ids and the window of recent jobs.

Shares name their job by id, so the pool keeps the last few jobs. A job stays in the
window after a newer `clean_jobs` job (or a new prevhash) arrives but is marked stale:
a share for it is rejected as stale (error 21) unless it is a block candidate, which is
still sent to the node first. Jobs older than the bound are forgotten (unknown job).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from pool.jobs.job import Job


class JobIdGenerator:
    """Short hex ids, unique within the process. The counter starts at a random
    point so ids from a restarted pool rarely collide with ones miners still hold."""

    def __init__(self, start: int | None = None) -> None:
        first = secrets.randbelow(1 << 16) if start is None else start
        self._counter = itertools.count(first)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f"{next(self._counter) & 0xFFFFFFFF:x}"


@dataclass(frozen=True, slots=True)
class WindowEntry:
    job: Job
    stale: bool


class JobWindow:
    """The last `max_jobs` jobs by id, with stale marking.

    Every job with `clean_jobs=True` or a prevhash different from the current one
    starts a new epoch; jobs from older epochs are stale. Thread-safe: the event loop
    adds jobs while the validator thread looks them up."""

    def __init__(self, max_jobs: int = 32) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1, got {max_jobs}")
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, tuple[Job, int]] = OrderedDict()
        self._epoch = 0
        self._prevhash: bytes | None = None
        self._latest: Job | None = None
        self._lock = threading.Lock()

    def add(self, job: Job) -> bool:
        """Add a job; returns True when it started a new epoch (older jobs now stale)."""
        with self._lock:
            if job.job_id in self._jobs:
                raise ValueError(f"job id {job.job_id} is already in the window")
            new_epoch = self._latest is not None and (
                job.clean_jobs or job.prevhash != self._prevhash
            )
            if new_epoch:
                self._epoch += 1
            self._prevhash = job.prevhash
            self._latest = job
            self._jobs[job.job_id] = (job, self._epoch)
            while len(self._jobs) > self.max_jobs:
                self._jobs.popitem(last=False)
            return new_epoch

    def lookup(self, job_id: str) -> WindowEntry | None:
        """The job and whether it is stale, or None when unknown or forgotten."""
        with self._lock:
            found = self._jobs.get(job_id)
            if found is None:
                return None
            job, epoch = found
            return WindowEntry(job, epoch != self._epoch)

    def get(self, job_id: str) -> Job | None:
        entry = self.lookup(job_id)
        return None if entry is None else entry.job

    def is_stale(self, job_id: str) -> bool:
        """True for stale and for unknown jobs."""
        entry = self.lookup(job_id)
        return entry is None or entry.stale

    @property
    def latest(self) -> Job | None:
        return self._latest

    @property
    def prevhash(self) -> bytes | None:
        return self._prevhash

    def current_jobs(self) -> list[Job]:
        with self._lock:
            return [job for job, epoch in self._jobs.values() if epoch == self._epoch]

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._latest = None
            self._prevhash = None
            self._epoch += 1

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs
