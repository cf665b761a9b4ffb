"""Plain records that cross the ledger boundary: what the pool hands in (shares, found
blocks) and the rows the CLI prints (balances, blocks, payouts).

Difficulty is an exact `Fraction`: pool difficulties may be fractional (tiny miners,
regtest) and payouts must be exact to the satoshi, so no float ever holds one. It is
stored as the canonical text of the reduced fraction ("65536", "1/1000") because
numerators and denominators can exceed 64 bits (a share target near 2**256)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from pool.bitcoin.target import as_fraction
from pool.ledger.errors import InvalidBlock, InvalidShare


class BlockStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    ORPHANED = "orphaned"


class Scheme(StrEnum):
    PPLNS = "pplns"
    PPS = "pps"
    FPPS = "fpps"
    PROP = "prop"
    SOLO = "solo"


class PayoutStatus(StrEnum):
    CREATED = "created"  # recorded, maybe sent: reconcile against the wallet
    SENT = "sent"  # the wallet's txid is recorded
    CANCELLED = "cancelled"  # never sent; amounts went back to payable


def exact_difficulty(value: object) -> Fraction:
    """A positive exact difficulty; ints and Fractions pass through cheaply (the hot path),
    anything else goes through `pool.bitcoin.target.as_fraction`."""
    kind = type(value)
    if kind is Fraction:
        d = value
    elif kind is int:
        d = Fraction(value)
    else:
        try:
            d = as_fraction(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidShare(f"difficulty {value!r}: {exc}") from exc
    if d <= 0:  # type: ignore[operator]
        raise InvalidShare(f"difficulty must be positive, got {value!r}")
    return d  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Share:
    """One accepted share as the pool answered `true` to it."""

    account: str  # payout address (the part of the Stratum username before the dot)
    worker: str
    difficulty: Fraction
    job_id: str
    height: int
    time: float  # unix seconds
    is_block: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.account, str) or not self.account:
            raise InvalidShare(f"account must be a non-empty str, got {self.account!r}")
        if not isinstance(self.worker, str):
            raise InvalidShare(f"worker must be a str, got {self.worker!r}")
        if not isinstance(self.job_id, str):
            raise InvalidShare(f"job_id must be a str, got {self.job_id!r}")
        if type(self.height) is not int or self.height < 0:
            raise InvalidShare(f"height must be a non-negative int, got {self.height!r}")
        if type(self.time) not in (float, int) or not math.isfinite(self.time):
            raise InvalidShare(f"time must be finite unix seconds, got {self.time!r}")
        d = self.difficulty
        if type(d) is not Fraction or d <= 0:
            object.__setattr__(self, "difficulty", exact_difficulty(d))


@dataclass(frozen=True, slots=True)
class FoundBlock:
    """A block the pool found and the node accepted. `reward` is the whole coinbase value
    in satoshis (subsidy + fees); `share_id` is the ledger id of the share that solved it,
    which closes the round."""

    height: int
    hash: str  # display hex (as getblockhash returns it)
    reward: int
    share_id: int
    account: str
    worker: str
    network_difficulty: Fraction
    fees: int = 0

    def __post_init__(self) -> None:
        if type(self.reward) is not int or self.reward < 0:
            raise InvalidBlock(f"block reward must be an int >= 0 (sat), not {self.reward!r}")
        if type(self.fees) is not int or not 0 <= self.fees <= self.reward:
            raise InvalidBlock(f"block fees must be an int in [0, reward], got {self.fees!r}")
        if not isinstance(self.hash, str) or len(self.hash) != 64:
            raise InvalidBlock(f"block hash must be 64 hex chars, got {self.hash!r}")
        object.__setattr__(self, "hash", self.hash.lower())
        object.__setattr__(
            self, "network_difficulty", exact_difficulty(self.network_difficulty)
        )


@dataclass(frozen=True, slots=True)
class BalanceRow:
    account: str
    immature: int  # credits of blocks not yet 100 deep
    payable: int  # confirmed and not yet in a payout batch
    pending: int  # in a batch that is recorded but not known sent
    paid: int


@dataclass(frozen=True, slots=True)
class BlockRow:
    id: int
    height: int
    hash: str
    reward: int
    fees: int
    status: BlockStatus
    scheme: Scheme
    account: str
    worker: str
    share_id: int
    found_at: float
    credited: int  # sum of the credits this block created


@dataclass(frozen=True, slots=True)
class PayoutBatch:
    id: int
    status: PayoutStatus
    outputs: dict[str, int]
    txid: str | None
    created_at: float

    @property
    def total(self) -> int:
        return sum(self.outputs.values())


@dataclass(frozen=True, slots=True)
class PayoutRow:
    batch_id: int
    account: str
    amount: int
    status: PayoutStatus
    txid: str | None
