"""Mining jobs: the coinbase and its coinb1/coinb2 split, Job objects built from a
getblocktemplate result, job ids and the window of recent jobs used for stale checks.

Pure code: templates in, jobs out; no I/O.
"""

from pool.jobs.coinbase import CoinbaseParts, Payout, build_coinbase
from pool.jobs.factory import JobFactory, TemplateWork
from pool.jobs.job import Job
from pool.jobs.window import JobIdGenerator, JobWindow, WindowEntry

__all__ = [
    "CoinbaseParts",
    "Job",
    "JobFactory",
    "JobIdGenerator",
    "JobWindow",
    "Payout",
    "TemplateWork",
    "WindowEntry",
    "build_coinbase",
]
