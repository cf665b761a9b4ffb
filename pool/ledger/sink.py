"""The ledger as the Stratum server's share sink.

`pool.shares.accepted.ShareSink` is `async record_shares(shares) -> None`, called once per
validated batch; the server answers `true` only after it returns. This adapter turns the
server's accepted-share records into ledger `Share`s (read by attribute, so the ledger does
not import the shares package: data flows shares -> ledger) and keeps the ledger id of
each block-solving share, which `Ledger.record_block` needs once the node accepted it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol

from pool.ledger.errors import InvalidShare, SharesNotStored
from pool.ledger.ledger import Ledger
from pool.ledger.records import Share, exact_difficulty

KEEP_BLOCK_IDS = 1024
KEEP_DIFFICULTIES = 4096  # distinct vardiff values remembered (a pool uses a few dozen)


class AcceptedLike(Protocol):
    """What the ledger reads of an accepted share (pool.shares.AcceptedShare, frozen)."""

    @property
    def username(self) -> str: ...  # the account (payout address)
    @property
    def worker(self) -> str: ...
    @property
    def difficulty(self) -> float: ...  # credited; converted exactly (a float is a rational)
    @property
    def job_id(self) -> str: ...
    @property
    def height(self) -> int: ...
    @property
    def is_block(self) -> bool: ...
    @property
    def block_hash(self) -> str | None: ...
    @property
    def time(self) -> float: ...


class LedgerSink:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._block_shares: OrderedDict[str, int] = OrderedDict()
        self._difficulties: dict[float, Fraction] = {}

    def _exact(self, value: float) -> Fraction:
        """The exact Fraction of a float difficulty. This runs on the event loop for every
        share and a session's vardiff value repeats share after share, so conversions are
        remembered (floats only: equal ints/bools hash alike but convert differently)."""
        if type(value) is not float:
            return exact_difficulty(value)
        exact = self._difficulties.get(value)
        if exact is None:
            exact = exact_difficulty(value)
            if len(self._difficulties) < KEEP_DIFFICULTIES:
                self._difficulties[value] = exact
        return exact

    async def record_shares(self, shares: Sequence[AcceptedLike]) -> list[int]:
        """Durably record a batch; returns after the commit (the ids, in order).

        A share that fails validation is left out of the group commit, so it cannot fail
        the others; the rest are stored, then SharesNotStored names the refused positions
        (as it does for rows the database itself refused)."""
        exact = self._exact
        records: list[Share] = []
        positions: list[int] = []
        reasons: dict[int, str] = {}
        for i, s in enumerate(shares):
            try:
                records.append(Share(
                    account=s.username, worker=s.worker, difficulty=exact(s.difficulty),
                    job_id=s.job_id, height=s.height, time=s.time, is_block=bool(s.is_block),
                ))
                positions.append(i)
            except InvalidShare as exc:
                reasons[i] = str(exc)
        ids: list[int | None] = [None] * len(shares)
        if records:
            try:
                stored: list[int | None] = list(await self.ledger.record_shares(records))
            except SharesNotStored as exc:
                stored = exc.ids
                for pos, why in exc.reasons.items():
                    reasons[positions[pos]] = why
            for pos, share_id in zip(positions, stored, strict=True):
                ids[pos] = share_id
        for accepted, share_id in zip(shares, ids, strict=True):
            if share_id is not None and accepted.is_block and accepted.block_hash:
                self._block_shares[accepted.block_hash.lower()] = share_id
                while len(self._block_shares) > KEEP_BLOCK_IDS:
                    self._block_shares.popitem(last=False)
        if reasons:
            raise SharesNotStored(ids, reasons)
        return ids  # type: ignore[return-value]  # no reason given: every share has its id

    def block_share_id(self, block_hash: str) -> int | None:
        """Ledger id of the share that solved `block_hash` (for FoundBlock.share_id)."""
        return self._block_shares.get(block_hash.lower())
