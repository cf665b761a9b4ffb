"""Accounting schemes as pure functions over integers and exact fractions.

Every function returns satoshi integers whose sum equals the amount being shared out,
exactly: each miner gets the floor of an exact fraction, and what the floors leave (the
"remainder", always less than one satoshi per miner) goes to the pool fee account, so a
test can recompute every credit from the shares and the block reward and match it to
the satoshi. Accounts are visited in sorted order so the result never depends on dict
or database order.

Schemes:
- PPLNS: the last N x network-difficulty of share difficulty before the block (the share
  that straddles the window edge counts only for the part inside it).
- PROP: all shares of the round (since the previous found block).
- PPS / FPPS: each share is worth difficulty / network_difficulty x block value, where the
  block value is the subsidy (PPS) or subsidy + template fees (FPPS); paid whether or not
  the pool finds blocks.
- SOLO: nothing here: the coinbase already pays the finder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pool.ledger.errors import InvalidAmount

SATOSHIS_PER_COIN = 100_000_000
INITIAL_SUBSIDY = 50 * SATOSHIS_PER_COIN
MAINNET_HALVING_INTERVAL = 210_000  # regtest (Core and bcoin) halves every 150 blocks

Rate = int | str | Decimal | Fraction | float

CREDIT_SHARE = "share"
CREDIT_FEE = "fee"
CREDIT_REMAINDER = "remainder"


def block_subsidy(height: int, halving_interval: int = MAINNET_HALVING_INTERVAL) -> int:
    """Subsidy in satoshis at `height` (Bitcoin Core's GetBlockSubsidy)."""
    if height < 0 or halving_interval <= 0:
        raise InvalidAmount(f"height {height} / halving interval {halving_interval} out of range")
    halvings = height // halving_interval
    return 0 if halvings >= 64 else INITIAL_SUBSIDY >> halvings


def exact_rational(value: Rate, what: str) -> Fraction:
    """Decimal-exact Fraction of a config number: "1.5", Decimal("1.5") and 1.5 all give 3/2
    (a float goes through its shortest repr, so 0.1 means one tenth, not the binary value)."""
    if isinstance(value, bool):
        raise InvalidAmount(f"{what} must be a number, not bool")
    try:
        if isinstance(value, float):
            return Fraction(repr(value))
        return Fraction(value)
    except (TypeError, ValueError) as exc:
        raise InvalidAmount(f"{what} {value!r} is not a number") from exc


def fee_rate(percent: Rate) -> Fraction:
    """The pool fee as a fraction of 1 from a percentage in [0, 100)."""
    rate = exact_rational(percent, "pool fee percent")
    if not 0 <= rate < 100:
        raise InvalidAmount(f"pool fee percent must be in [0, 100), got {percent!r}")
    return rate / 100


def floor_fraction(value: Fraction) -> int:
    return value.numerator // value.denominator


@dataclass(frozen=True, slots=True)
class Allocation:
    """How an amount of satoshis is shared out. `miners` omits zero amounts."""

    miners: dict[str, int]
    fee: int
    remainder: int
    fee_account: str

    @property
    def total(self) -> int:
        return sum(self.miners.values()) + self.fee + self.remainder

    def credit_rows(self) -> list[tuple[str, int, str]]:
        """(account, satoshis, kind) rows as the ledger stores them, zero amounts left out."""
        rows = [(account, amount, CREDIT_SHARE) for account, amount in self.miners.items()]
        if self.fee:
            rows.append((self.fee_account, self.fee, CREDIT_FEE))
        if self.remainder:
            rows.append((self.fee_account, self.remainder, CREDIT_REMAINDER))
        return rows


def split_reward(
    amount: int, weights: Mapping[str, Fraction], rate: Fraction, fee_account: str
) -> Allocation:
    """Share `amount` satoshis: fee = floor(amount x rate) to the fee account, each miner
    floor((amount - fee) x weight / total weight), the leftover to the fee account. With no
    weight at all everything goes to the fee account (nobody earned it)."""
    if type(amount) is not int or amount < 0:
        raise InvalidAmount(f"amount must be a non-negative int of satoshis, got {amount!r}")
    if not 0 <= rate < 1:
        raise InvalidAmount(f"fee rate must be in [0, 1), got {rate}")
    fee = floor_fraction(amount * rate)
    distributable = amount - fee
    total = sum(weights.values(), Fraction(0))
    miners: dict[str, int] = {}
    if total > 0:
        for account in sorted(weights):
            weight = weights[account]
            if weight < 0:
                raise InvalidAmount(f"negative weight {weight} for {account!r}")
            share = floor_fraction(distributable * weight / total)
            if share:
                miners[account] = share
    remainder = distributable - sum(miners.values())
    return Allocation(miners=miners, fee=fee, remainder=remainder, fee_account=fee_account)


@dataclass(frozen=True, slots=True)
class Window:
    """The share work a PPLNS window counted. `work` equals the window size when the pool
    had enough shares (`full`), less otherwise. `first_share_id` is the oldest share used."""

    weights: dict[str, Fraction]
    work: Fraction
    shares: int
    full: bool
    first_share_id: int | None = None
    last_share_id: int | None = None


def pplns_window_size(n: Rate, network_difficulty: Fraction) -> Fraction:
    factor = exact_rational(n, "PPLNS N")
    if factor <= 0:
        raise InvalidAmount(f"PPLNS N must be positive, got {n!r}")
    if network_difficulty <= 0:
        raise InvalidAmount(f"network difficulty must be positive, got {network_difficulty}")
    return factor * network_difficulty


def pplns_weights(
    shares_newest_first: Iterable[tuple[int, str, Fraction]], window: Fraction
) -> Window:
    """Walk (share_id, account, difficulty) from the newest share back until the window's
    work is filled; the share that crosses the edge contributes only what fits."""
    if window <= 0:
        raise InvalidAmount(f"PPLNS window must be positive, got {window}")
    weights: dict[str, Fraction] = {}
    work = Fraction(0)
    count = 0
    first = last = None
    for share_id, account, difficulty in shares_newest_first:
        take = min(difficulty, window - work)
        weights[account] = weights.get(account, Fraction(0)) + take
        work += take
        count += 1
        if last is None:
            last = share_id
        first = share_id
        if work >= window:
            break
    return Window(weights, work, count, work >= window, first, last)


def prop_weights(round_shares: Iterable[tuple[int, str, Fraction]]) -> Window:
    """All shares of the round at full difficulty."""
    weights: dict[str, Fraction] = {}
    work = Fraction(0)
    count = 0
    first = last = None
    for share_id, account, difficulty in round_shares:
        weights[account] = weights.get(account, Fraction(0)) + difficulty
        work += difficulty
        count += 1
        first = share_id if first is None else min(first, share_id)
        last = share_id if last is None else max(last, share_id)
    return Window(weights, work, count, True, first, last)


def share_value(difficulty: Fraction, network_difficulty: Fraction, block_value: int) -> Fraction:
    """Expected satoshis of one share: its chance of being a block times the block value."""
    if network_difficulty <= 0:
        raise InvalidAmount(f"network difficulty must be positive, got {network_difficulty}")
    return difficulty * block_value / network_difficulty


@dataclass(frozen=True, slots=True)
class PpsResult:
    allocation: Allocation
    gross: Fraction  # exact expected value of the settled shares
    carry_out: Fraction  # the sub-satoshi part kept for the next settlement, in [0, 1)


def pps(
    shares: Iterable[tuple[str, Fraction, Fraction, int]],
    rate: Fraction,
    fee_account: str,
    carry_in: Fraction = Fraction(0),
) -> PpsResult:
    """Settle (account, difficulty, network_difficulty, block_value) shares.

    Miner a gets floor(G_a x (1 - rate)) where G_a is the exact value of its shares; the fee
    account gets floor(G x rate) plus what the floors leave of floor(G + carry_in); the
    fraction below one satoshi carries into the next settlement, so over any sequence of
    settlements the credits total exactly floor(sum of all share values)."""
    if not 0 <= carry_in < 1:
        raise InvalidAmount(f"carry must be in [0, 1), got {carry_in}")
    gross_by: dict[str, Fraction] = {}
    for account, difficulty, network_difficulty, block_value in shares:
        value = share_value(difficulty, network_difficulty, block_value)
        gross_by[account] = gross_by.get(account, Fraction(0)) + value
    gross = sum(gross_by.values(), Fraction(0))
    keep = 1 - rate
    miners = {}
    for account in sorted(gross_by):
        amount = floor_fraction(gross_by[account] * keep)
        if amount:
            miners[account] = amount
    fee = floor_fraction(gross * rate)
    paid = floor_fraction(gross + carry_in)
    remainder = paid - sum(miners.values()) - fee
    allocation = Allocation(miners=miners, fee=fee, remainder=remainder, fee_account=fee_account)
    return PpsResult(allocation, gross, gross + carry_in - paid)
