"""Plain records that cross the ledger boundary: what the pool hands in (shares, found
blocks) and the rows the CLI prints (balances, blocks, payouts).

Difficulty is an exact `Fraction`: pool difficulties may be fractional (tiny miners,
regtest) and payouts must be exact to the satoshi, so no float ever holds one. It is
stored as the canonical text of the reduced fraction ("65536", "1/1000") because
numerators and denominators can exceed 64 bits (a share target near 2**256)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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


MAX_NAME_CHARS = 256  # account and worker names (the pool admits 128)
MAX_JOB_ID_CHARS = 64
MAX_BIGINT = 2**63 - 1  # heights are BIGINT on PostgreSQL


def text_problem(value: object, limit: int) -> str | None:
    """Why `value` cannot be stored and shown as a name, or None: a str of 1-`limit`
    printable characters. A NUL would fail a PostgreSQL insert (and cut a SQLite one
    short), a lone surrogate cannot be encoded at all, a control character would forge
    lines wherever the name is shown."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty str"
    if len(value) > limit:
        return f"must be at most {limit} characters"
    if not value.isprintable():
        return "must hold printable characters only"
    return None


class PayoutStatus(StrEnum):
    CREATED = "created"  # recorded, maybe sent: reconcile against the wallet
    SENT = "sent"  # the wallet's txid is recorded
    CANCELLED = "cancelled"  # never sent; amounts went back to payable


def exact_difficulty(value: object) -> Fraction:
    """A positive exact difficulty; ints and Fractions pass through cheaply (the hot path),
    anything else goes through `pool.bitcoin.target.as_fraction`."""
    d: Fraction
    if type(value) is Fraction:
        d = value
    elif type(value) is int:
        d = Fraction(value)
    else:
        try:
            d = as_fraction(value)  # type: ignore[arg-type]  # anything: it says what is wrong
        except (TypeError, ValueError) as exc:
            raise InvalidShare(f"difficulty {value!r}: {exc}") from exc
    if d <= 0:
        raise InvalidShare(f"difficulty must be positive, got {value!r}")
    return d


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
        # Checked here, before a share joins a group commit, so one bad row never fails
        # the other miners' shares committed with it (one expression: the hot path).
        account, worker, job_id = self.account, self.worker, self.job_id
        if not (
            type(account) is str and type(worker) is str and type(job_id) is str
            and 0 < len(account) <= MAX_NAME_CHARS and 0 < len(worker) <= MAX_NAME_CHARS
            and 0 < len(job_id) <= MAX_JOB_ID_CHARS
            and account.isprintable() and worker.isprintable() and job_id.isprintable()
        ):
            for name, value, limit in (
                ("account", account, MAX_NAME_CHARS),
                ("worker", worker, MAX_NAME_CHARS),
                ("job_id", job_id, MAX_JOB_ID_CHARS),
            ):
                problem = text_problem(value, limit)
                if problem is not None:
                    raise InvalidShare(f"{name} {problem}, got {value!r:.80}")
        if type(self.height) is not int or not 0 <= self.height <= MAX_BIGINT:
            raise InvalidShare(f"height must be an int in [0, 2**63), got {self.height!r}")
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
    outputs: dict[str, int]  # account -> satoshis
    txid: str | None
    created_at: float
    addresses: dict[str, str] = field(default_factory=dict)  # account -> address paid

    @property
    def total(self) -> int:
        return sum(self.outputs.values())

    def address_of(self, account: str) -> str:
        """Where `account`'s output goes (its own name when no address was recorded:
        batches from before addresses were recorded paid the account as the address)."""
        return self.addresses.get(account, account)

    def send_outputs(self) -> dict[str, int]:
        """{address: satoshis} for the wallet: accounts paid at one address are summed
        into one output (a wallet refuses a transaction paying one address twice)."""
        out: dict[str, int] = {}
        for account, amount in sorted(self.outputs.items()):
            address = self.address_of(account)
            out[address] = out.get(address, 0) + amount
        return out


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """An account no payout goes to until the operator fixes or releases it: its account
    is not payable (address ""), or the wallet refused its address."""

    account: str
    address: str
    reason: str
    since: float
