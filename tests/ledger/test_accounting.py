"""Scheme formulas against numbers worked out by hand (each expected value is derived in
the test from first principles, not read back from the code under test)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pool.ledger import accounting
from pool.ledger.errors import InvalidAmount

FEE = "pool"


def test_fee_rate_is_decimal_exact() -> None:
    assert accounting.fee_rate("1.5") == Fraction(3, 200)
    assert accounting.fee_rate(Decimal("0.1")) == Fraction(1, 1000)
    assert accounting.fee_rate(0.1) == Fraction(1, 1000)  # the decimal 0.1, not binary
    assert accounting.fee_rate(0) == 0
    for bad in (-1, 100, "abc", True):
        with pytest.raises(InvalidAmount):
            accounting.fee_rate(bad)


def test_block_subsidy_halvings() -> None:
    assert accounting.block_subsidy(0) == 5_000_000_000
    assert accounting.block_subsidy(209_999) == 5_000_000_000
    assert accounting.block_subsidy(210_000) == 2_500_000_000
    assert accounting.block_subsidy(840_000) == 312_500_000
    assert accounting.block_subsidy(150, halving_interval=150) == 2_500_000_000  # regtest
    assert accounting.block_subsidy(64 * 210_000) == 0


def test_split_reward_fee_floors_and_remainder_to_fee_account() -> None:
    # 1,000,000,001 sat, 2 % fee: fee = floor(20,000,000.02) = 20,000,000;
    # distributable 980,000,001 split 1:2 -> a = floor(326,666,667) = 326,666,667,
    # b = floor(653,333,334) = 653,333,334; remainder = 980,000,001 - 980,000,001 = 0.
    alloc = accounting.split_reward(
        1_000_000_001, {"a": Fraction(1), "b": Fraction(2)}, Fraction(2, 100), FEE
    )
    assert alloc.fee == 20_000_000
    assert alloc.miners == {"a": 326_666_667, "b": 653_333_334}
    assert alloc.remainder == 0
    # 100 sat among three equal miners, no fee: 33 each, 1 sat left for the fee account.
    alloc = accounting.split_reward(
        100, {"x": Fraction(1), "y": Fraction(1), "z": Fraction(1)}, Fraction(0), FEE
    )
    assert alloc.miners == {"x": 33, "y": 33, "z": 33}
    assert alloc.fee == 0 and alloc.remainder == 1
    assert alloc.credit_rows() == [("x", 33, "share"), ("y", 33, "share"), ("z", 33, "share"),
                                   (FEE, 1, "remainder")]


def test_split_reward_without_work_pays_fee_account() -> None:
    alloc = accounting.split_reward(12_345, {}, Fraction(1, 100), FEE)
    assert alloc.miners == {} and alloc.fee == 123 and alloc.remainder == 12_222
    with pytest.raises(InvalidAmount):
        accounting.split_reward(-1, {}, Fraction(0), FEE)


def test_pplns_window_cuts_the_straddling_share() -> None:
    # Window N=2 x netdiff 10 = 20. Newest first: c 8, b 8, a 8, a 8.
    # c 8 (total 8), b 8 (16), a counts only 4 (20): the oldest share is outside.
    shares = [(4, "c", Fraction(8)), (3, "b", Fraction(8)), (2, "a", Fraction(8)),
              (1, "a", Fraction(8))]
    window = accounting.pplns_weights(iter(shares), accounting.pplns_window_size(2, Fraction(10)))
    assert window.weights == {"c": 8, "b": 8, "a": 4}
    assert window.work == 20 and window.full and window.shares == 3
    assert (window.first_share_id, window.last_share_id) == (2, 4)
    # Reward 625,000,000 with 1 % fee: fee 6,250,000; 618,750,000 split 8:8:4 of 20:
    # b = c = 247,500,000, a = 123,750,000, remainder 0.
    alloc = accounting.split_reward(625_000_000, window.weights, Fraction(1, 100), FEE)
    assert alloc.miners == {"a": 123_750_000, "b": 247_500_000, "c": 247_500_000}
    assert alloc.fee == 6_250_000 and alloc.remainder == 0


def test_pplns_fractional_difficulty_and_short_window() -> None:
    # Regtest-like: netdiff 1/2**31, N = 1 -> window 1/2**31; shares of 1/2**32 each:
    # the two newest fill the window exactly.
    tiny = Fraction(1, 2**32)
    shares = [(3, "p", tiny), (2, "q", tiny), (1, "r", tiny)]
    window = accounting.pplns_weights(iter(shares), Fraction(1, 2**31))
    assert window.weights == {"p": tiny, "q": tiny} and window.full
    # Not enough work: everything there counts and the window is marked not full.
    short = accounting.pplns_weights(iter(shares), Fraction(1))
    assert short.work == 3 * tiny and not short.full and short.shares == 3


def test_prop_counts_the_whole_round() -> None:
    window = accounting.prop_weights([(7, "a", Fraction(1, 3)), (6, "b", Fraction(2, 3)),
                                      (5, "a", Fraction(1))])
    assert window.weights == {"a": Fraction(4, 3), "b": Fraction(2, 3)}
    assert window.work == 2 and window.shares == 3
    # 300,000,007 sat, 0.5 % fee: fee floor(1,500,000.035) = 1,500,000; 298,500,007 split
    # 2/3 : 1/3 -> a floor(199,000,004.67) = 199,000,004, b floor(99,500,002.33) = 99,500,002,
    # remainder 298,500,007 - 298,500,006 = 1.
    alloc = accounting.split_reward(300_000_007, window.weights, Fraction(1, 200), FEE)
    assert alloc.miners == {"a": 199_000_004, "b": 99_500_002}
    assert (alloc.fee, alloc.remainder) == (1_500_000, 1)


def test_pps_and_fpps_values_with_carry() -> None:
    # netdiff 1000, subsidy 312,500,000, fees 12,345,678.
    # PPS share of diff 3: 3/1000 * 312,500,000 = 937,500 exactly.
    # FPPS share of diff 3: 3/1000 * 324,845,678 = 974,537.034.
    net = Fraction(1000)
    pps = accounting.pps([("a", Fraction(3), net, 312_500_000)], Fraction(2, 100), FEE)
    # a gets floor(937,500 * 0.98) = 918,750; fee floor(18,750) = 18,750; remainder 0.
    assert pps.allocation.miners == {"a": 918_750}
    assert (pps.allocation.fee, pps.allocation.remainder) == (18_750, 0)
    assert pps.gross == 937_500 and pps.carry_out == 0
    fpps = accounting.pps([("a", Fraction(3), net, 324_845_678)], Fraction(2, 100), FEE)
    # gross 974,537.034; a floor(955,046.29332) = 955,046; fee floor(19,490.74068) = 19,490;
    # paid floor(974,537.034) = 974,537 -> remainder 974,537 - 955,046 - 19,490 = 1;
    # carry 0.034.
    assert fpps.allocation.miners == {"a": 955_046}
    assert (fpps.allocation.fee, fpps.allocation.remainder) == (19_490, 1)
    assert fpps.carry_out == Fraction(34, 1000)
    # The carry joins the next settlement: 0.034 + 0.97 = 1.004 -> one more satoshi paid.
    later = accounting.pps([("b", Fraction(97, 100), Fraction(1), 1)], Fraction(0), FEE,
                           carry_in=fpps.carry_out)
    assert later.allocation.total == 1 and later.carry_out == Fraction(4, 1000)


accounts = st.sampled_from(["a", "b", "c", "d", "e"])
difficulties = st.fractions(min_value=Fraction(1, 10**6), max_value=10**6).filter(lambda f: f > 0)


@settings(max_examples=80, deadline=None)
@given(
    reward=st.integers(min_value=0, max_value=21 * 10**14),
    shares=st.lists(st.tuples(accounts, difficulties), min_size=1, max_size=40),
    percent=st.decimals(min_value=0, max_value=Decimal("99.99"), places=2),
)
def test_block_splits_total_the_reward_and_stay_within_a_satoshi(
    reward: int, shares: list[tuple[str, Fraction]], percent: Decimal
) -> None:
    rate = accounting.fee_rate(percent)
    weights: dict[str, Fraction] = {}
    for account, difficulty in shares:
        weights[account] = weights.get(account, Fraction(0)) + difficulty
    alloc = accounting.split_reward(reward, weights, rate, FEE)
    assert alloc.total == reward
    total = sum(weights.values())
    distributable = reward - alloc.fee
    for account, weight in weights.items():
        exact = distributable * weight / total
        assert exact - 1 < alloc.miners.get(account, 0) <= exact
    assert 0 <= alloc.remainder < len(weights)


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(accounts, difficulties, st.integers(1, 10**9)), max_size=10),
        min_size=1, max_size=6,
    ),
    percent=st.decimals(min_value=0, max_value=5, places=1),
)
def test_pps_settlements_total_floor_of_all_value(batches: list, percent: Decimal) -> None:
    rate = accounting.fee_rate(percent)
    carry = Fraction(0)
    paid = 0
    exact = Fraction(0)
    for batch in batches:
        rows = [(a, d, Fraction(10**5), v) for a, d, v in batch]
        result = accounting.pps(rows, rate, FEE, carry)
        carry = result.carry_out
        paid += result.allocation.total
        exact += sum((d * v / Fraction(10**5) for _, d, v in batch), Fraction(0))
        assert min(result.allocation.fee, result.allocation.remainder) >= 0
    assert paid == exact.numerator // exact.denominator
