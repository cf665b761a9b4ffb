"""What an accepted share is, and where accepted shares go (the ledger's interface).

The pool answers `true` to a miner only after `record_shares` has returned, so a share
the miner believes credited is never lost between the validator and the store.

When `record_shares` raises, its exception may carry `failed_rows` (a set of positions
in the batch): then every other share of the batch was stored and is answered `true`,
so one miner's bad share never costs another miner theirs (pool.ledger's
SharesNotStored). Without it, none of the batch is taken as stored. What the store said
goes to the pool's log, never to a miner: they get `NOT_RECORDED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

NOT_RECORDED = "Share not recorded (pool storage error)"


def failed_rows(exc: BaseException, count: int) -> frozenset[int]:
    """Positions of a batch of `count` shares that a failed `record_shares` did not
    store: the ones its exception names in `failed_rows`, else all of them."""
    rows = getattr(exc, "failed_rows", None)
    if isinstance(rows, (set, frozenset)) and all(
        type(i) is int and 0 <= i < count for i in rows
    ):
        return frozenset(rows)
    return frozenset(range(count))


@dataclass(frozen=True, slots=True)
class AcceptedShare:
    worker: str  # the full worker name the miner submitted under ("user.rig1")
    username: str  # the account: the worker name up to the first "."
    difficulty: float  # what the share is credited: the session's difficulty for its job
    share_difficulty: float  # what the hash actually reached (diff1 / hash)
    job_id: str
    height: int
    is_block: bool
    block_hash: str | None  # display hex of the header hash when is_block
    remote: str  # the miner's IP address
    time: float  # time.time() when the share was judged


@runtime_checkable
class ShareSink(Protocol):
    """Implemented by the ledger; called once per validated batch of accepted shares."""

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> object: ...


class MemorySink:
    """Keeps accepted shares in a list: solo mode's bookkeeping and a real sink for tests."""

    def __init__(self) -> None:
        self.shares: list[AcceptedShare] = []

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> None:
        self.shares.extend(shares)


class CountingSink:
    """Counts shares and credited difficulty without keeping them (load tests, solo)."""

    def __init__(self) -> None:
        self.count = 0
        self.difficulty = 0.0
        self.blocks = 0

    async def record_shares(self, shares: Sequence[AcceptedShare]) -> None:
        self.count += len(shares)
        for share in shares:
            self.difficulty += share.difficulty
            self.blocks += share.is_block
