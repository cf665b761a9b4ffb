"""The server's source of work: the current Job, listeners for new ones, solo variants.

The node side (watcher + JobFactory) publishes each new Job here; the server listens
and fans it out. In solo mode every payout script needs its own coinbase on the same
template, so the feed builds those variants lazily from the template work through the
JobFactory and caches them per (job, script) until the next job is published: a
thousand sessions paying one address cost one coinbase build, not a thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pool.jobs.factory import JobFactory, TemplateWork
from pool.jobs.job import Job

JobListener = Callable[[Job], None]


class JobSource(Protocol):
    """What the Stratum server needs from the job side."""

    @property
    def current(self) -> Job | None: ...

    def subscribe(self, listener: JobListener) -> Callable[[], None]: ...

    def job_for_script(self, job: Job, payout_script: bytes) -> Job: ...


class JobFeed:
    """A JobSource fed by `publish`; holds the factory for solo variants."""

    def __init__(self, factory: JobFactory | None = None) -> None:
        self.factory = factory
        self._current: Job | None = None
        self._work: TemplateWork | None = None
        self._listeners: list[JobListener] = []
        self._variants: dict[tuple[str, bytes], Job] = {}

    @property
    def current(self) -> Job | None:
        return self._current

    @property
    def work(self) -> TemplateWork | None:
        return self._work

    def subscribe(self, listener: JobListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, job: Job, work: TemplateWork | None = None) -> None:
        """Make `job` current and tell every listener. `work` (the template it was built
        from) is needed only for solo variants."""
        self._current = job
        self._work = work
        self._variants.clear()
        for listener in list(self._listeners):
            listener(job)

    def publish_template(self, work: TemplateWork, *, clean_jobs: bool) -> Job:
        """Build the pool's job for `work` with the factory and publish it."""
        if self.factory is None:
            raise RuntimeError("JobFeed.publish_template needs a JobFactory")
        job = self.factory.job(work, clean_jobs=clean_jobs)
        self.publish(job, work)
        return job

    def job_for_script(self, job: Job, payout_script: bytes) -> Job:
        """The same work as `job` with a coinbase paying `payout_script` (solo mode)."""
        key = (job.job_id, payout_script)
        variant = self._variants.get(key)
        if variant is not None:
            return variant
        if self.factory is None or self._work is None or job is not self._current:
            raise LookupError(
                f"no template work for job {job.job_id}: solo mode needs jobs published "
                "with their TemplateWork and a JobFactory"
            )
        variant = self.factory.job(
            self._work, clean_jobs=job.clean_jobs, payouts=payout_script, now=job.created
        )
        self._variants[key] = variant
        return variant
