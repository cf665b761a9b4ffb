"""Who a Stratum miner says it is: a worker name, and the account it is credited to.

Pure rules, no network, so they are tested alone and every caller applies the same ones:
the session checks a name at mining.authorize (error 24 with the reason), the server
credits each share to `account_of(worker)`, and the ledger, the blocks table and the
stats API all read the account the same way.

A worker name is 1-128 printable characters: no control characters (a newline forges a
log line, an escape repaints a terminal, a NUL fails a PostgreSQL insert), no invisible
format characters (a right-to-left override spoofs a name on screen), no surrogates.
The account is the name up to its first '.', and may not be empty. In pool mode the
account must also be payable: the pool's `AccountBook` (pool.accounts) decides that and
is passed in here as `account_problem`.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_WORKER_CHARS = 128

AccountProblem = Callable[[str], str | None]


def account_of(worker: str) -> str:
    """The account a worker's shares are credited to: the name up to the first '.'."""
    return worker.split(".", 1)[0]


def worker_problem(worker: object) -> str | None:
    """None when `worker` is a usable worker name, else why not (a miner reads it)."""
    if not isinstance(worker, str):
        return "worker name must be a string"
    if not 1 <= len(worker) <= MAX_WORKER_CHARS:
        return f"worker name must be 1-{MAX_WORKER_CHARS} characters"
    if not worker.isprintable():
        return "worker name may hold printable characters only (no control characters)"
    if not account_of(worker):
        return "worker name needs an account before its first '.'"
    return None


def authorize_problem(
    worker: object, account_problem: AccountProblem | None = None
) -> str | None:
    """Why mining.authorize must refuse `worker` (error 24), or None to accept it:
    the name rules, then `account_problem(account)` when the pool checks accounts."""
    problem = worker_problem(worker)
    if problem is None and account_problem is not None and isinstance(worker, str):
        problem = account_problem(account_of(worker))  # (no problem: worker is a str)
    return problem
