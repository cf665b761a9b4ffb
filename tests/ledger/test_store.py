"""Store operations against both backends: exact share storage, block credits that match
the scheme formula recomputed here from the stored shares, maturity and orphaning,
PPS settlement and balances that always equal the credits behind them."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest

from pool.bitcoin.target import MAX_TARGET, target_to_difficulty
from pool.ledger import BlockStatus, LedgerStore, MissingNetworkInfo, Scheme, UnknownShare
from pool.ledger.errors import UnknownBlock

from .factories import FEE_ACCOUNT, found, share

OpenStore = Callable[..., LedgerStore]


def balances(store: LedgerStore) -> dict[str, tuple[int, int, int, int]]:
    return {r.account: (r.immature, r.payable, r.pending, r.paid) for r in store.balances()}


def test_shares_round_trip_exactly(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store()
    huge = target_to_difficulty(MAX_TARGET - 12345)  # numerator and denominator > 2**200
    originals = [
        share("a", Fraction(1, 1000)), share("b", 65536), share("c", huge, is_block=True),
        share("dé", Fraction(7, 3), worker="rig.ü"),
    ]
    ids = store.insert_shares(originals)
    assert ids == sorted(ids) and len(set(ids)) == 4
    stored = dict(store.shares())
    for share_id, original in zip(ids, originals, strict=True):
        got = stored[share_id]
        assert got.difficulty == original.difficulty and type(got.difficulty) is Fraction
        assert (got.account, got.worker, got.job_id, got.height, got.is_block) == (
            original.account, original.worker, original.job_id, original.height,
            original.is_block,
        )
        assert got.time == pytest.approx(original.time, abs=1e-6)
    # ids keep increasing across batches
    assert store.insert_shares([share("a", 1)])[0] > max(ids)


def test_pplns_block_credits_match_the_formula(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store(scheme="pplns", pplns_n=2, fee_percent="1.5")
    # 30 shares of mixed fractional difficulty from three miners
    diffs = [Fraction(1, 3), Fraction(1, 2), Fraction(2), Fraction(5, 7)]
    rows = [share("abc"[i % 3], diffs[i % 4]) for i in range(30)]
    ids = store.insert_shares(rows)
    block = store.record_block(
        found(ids[-1], reward=312_512_345, network_difficulty=Fraction(7, 2))
    )
    # Independent recomputation: window 2 x 7/2 = 7 of difficulty, newest share first.
    need = Fraction(7)
    weights: dict[str, Fraction] = {}
    for account, difficulty in [(s.account, s.difficulty) for s in reversed(rows)]:
        take = min(difficulty, need)
        weights[account] = weights.get(account, Fraction(0)) + take
        need -= take
        if need == 0:
            break
    fee = 312_512_345 * 15 // 1000
    pot = 312_512_345 - fee
    expected = {a: int(pot * w // 7) for a, w in weights.items()}
    remainder = pot - sum(expected.values())
    credits = store.credits(block.id)
    assert {(a, k): v for a, v, k in credits if k == "share"} == {
        (a, "share"): v for a, v in expected.items()
    }
    assert (FEE_ACCOUNT, fee, "fee") in credits
    assert sum(v for _, v, _ in credits) == 312_512_345 == block.credited
    if remainder:
        assert (FEE_ACCOUNT, remainder, "remainder") in credits
    # all of it immature until the block is 100 deep
    assert sum(b[0] for b in balances(store).values()) == 312_512_345
    assert all(b[1] == 0 for b in balances(store).values())
    # recording the same block again credits nothing more
    again = store.record_block(found(ids[-1], reward=312_512_345, network_difficulty=7))
    assert again.id == block.id and len(store.credits()) == len(credits)


def test_prop_rounds_split_at_found_blocks(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=0)
    first = store.insert_shares([share("a", 1), share("a", 1), share("b", 2)])
    b1 = store.record_block(found(first[-1], reward=1000, network_difficulty=100))
    second = store.insert_shares([share("b", 1), share("c", 3)])
    b2 = store.record_block(found(second[-1], reward=1001, network_difficulty=100))
    # round 1: a 2, b 2 of 4 -> 500 / 500. Round 2: b 1, c 3 of 4 -> 250 / 750, 1 left.
    assert sorted(store.credits(b1.id)) == [("a", 500, "share"), ("b", 500, "share")]
    assert sorted(store.credits(b2.id)) == [
        ("b", 250, "share"), ("c", 750, "share"), (FEE_ACCOUNT, 1, "remainder")
    ]


def test_maturity_and_orphaning_move_balances(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=10)
    ids = store.insert_shares([share("a", 1), share("b", 3)])
    good = store.record_block(found(ids[-1], reward=10_000, network_difficulty=1, height=500))
    ids2 = store.insert_shares([share("a", 1)])
    lost = store.record_block(found(ids2[-1], reward=8_000, network_difficulty=1, height=501))
    assert balances(store) == {
        "a": (2_250 + 7_200, 0, 0, 0), "b": (6_750, 0, 0, 0), FEE_ACCOUNT: (1_000 + 800, 0, 0, 0)
    }
    # the node: ours at 500, another block at 501, tip 599 (500 has exactly 100 confs)
    assert store.apply_node_view(good, good.hash, 599) is BlockStatus.CONFIRMED
    assert store.apply_node_view(lost, "ff" * 32, 599) is BlockStatus.ORPHANED
    assert balances(store) == {
        "a": (0, 2_250, 0, 0), "b": (0, 6_750, 0, 0), FEE_ACCOUNT: (0, 1_000, 0, 0)
    }
    # final states do not move again, even if the node later says otherwise
    assert not store.set_block_status(lost.id, BlockStatus.CONFIRMED)
    assert not store.set_block_status(good.id, BlockStatus.ORPHANED)
    assert {b.hash: b.status for b in store.blocks()} == {
        good.hash: BlockStatus.CONFIRMED, lost.hash: BlockStatus.ORPHANED
    }
    with pytest.raises(UnknownBlock):
        store.set_block_status(999, BlockStatus.CONFIRMED)


def test_block_needs_a_recorded_share(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store()
    store.insert_shares([share("a", 1)])
    with pytest.raises(UnknownShare):
        store.record_block(found(42, reward=1, network_difficulty=1))


@pytest.mark.parametrize("scheme", ["pps", "fpps"])
def test_pps_settlement(open_ledger_store: OpenStore, scheme: str) -> None:
    store = open_ledger_store(scheme=scheme, fee_percent=2)
    store.record_network(500, Fraction(1000), subsidy=312_500_000, fees=12_345_678)
    store.insert_shares([share("a", 3), share("b", Fraction(1, 2)), share("a", 1)])
    first = store.settle()
    assert first is not None and store.settle() is None  # nothing new to settle
    value = 312_500_000 + (12_345_678 if scheme == "fpps" else 0)
    gross_a, gross_b = Fraction(4 * value, 1000), Fraction(value, 2000)
    expect_a = int(gross_a * Fraction(98, 100))
    expect_b = int(gross_b * Fraction(98, 100))
    total = int(gross_a + gross_b)
    got = balances(store)
    assert got["a"] == (0, expect_a, 0, 0) and got["b"] == (0, expect_b, 0, 0)
    assert got[FEE_ACCOUNT][1] == total - expect_a - expect_b
    # shares at a height nobody described cannot be valued: a named error, nothing credited
    store.insert_shares([share("a", 1, height=777)])
    with pytest.raises(MissingNetworkInfo) as info:
        store.settle()
    assert info.value.heights == [777]
    assert balances(store) == got
    # PPS blocks are tracked for maturity but credit nothing (shares were paid already)
    ids = store.insert_shares([share("a", 1, is_block=True)])
    store.record_network(777, Fraction(1000), subsidy=1, fees=0)
    block = store.record_block(found(ids[-1], reward=value, network_difficulty=1000))
    assert block.scheme is Scheme(scheme) and store.credits(block.id) == []


def test_pplns_window_does_not_reach_into_pps_settled_shares(open_ledger_store: OpenStore) -> None:
    pps_store = open_ledger_store(scheme="pps", fee_percent=0)
    pps_store.record_network(500, Fraction(10), subsidy=1_000, fees=0)
    pps_store.insert_shares([share("old", 5)])
    assert pps_store.settle() is not None
    pplns = open_ledger_store(scheme="pplns", pplns_n=10, fee_percent=0)
    ids = pplns.insert_shares([share("new", 1)])
    block = pplns.record_block(found(ids[-1], reward=1_000, network_difficulty=10))
    assert pplns.credits(block.id) == [("new", 1_000, "share")]


def test_solo_blocks_are_followed_but_credit_nothing(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store(scheme="solo", fee_account="")
    ids = store.insert_shares([share("miner", 5, is_block=True)])
    block = store.record_block(found(ids[0], reward=625_000_000, network_difficulty=5))
    assert block.scheme is Scheme.SOLO and block.credited == 0
    assert store.balances() == []
    assert store.apply_node_view(block, block.hash, block.height + 99) is BlockStatus.CONFIRMED
    assert store.balances() == []
