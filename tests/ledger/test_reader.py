"""The miners' page's ledger reads (pool.ledger.reader), on SQLite and PostgreSQL: one
account's balance and payouts, blocks by account, and the moving PPLNS window, which must
hold exactly the shares a block found now would pay (accounting.pplns_weights)."""

from __future__ import annotations

import random
from fractions import Fraction

from pool.ledger import BlockStatus, LedgerStore
from pool.ledger.accounting import pplns_weights
from pool.ledger.reader import LedgerReader, PplnsWindow, Row, share_difficulty

from .conftest import OpenStore
from .factories import FEE_ACCOUNT, found, share


def reader_of(store: LedgerStore) -> LedgerReader:
    return LedgerReader(store.backend)


def expected_window(store: LedgerStore, size: Fraction) -> dict[str, int]:
    """Shares per account in the window pplns_weights walks (the edge share counted)."""
    rows = store.shares()
    newest_first = [(i, s.account, s.difficulty) for i, s in reversed(rows)]
    window = pplns_weights(newest_first, size)
    counts: dict[str, int] = {}
    for i, s in rows:
        if window.first_share_id is not None and i >= window.first_share_id:
            counts[s.account] = counts.get(s.account, 0) + 1
    return counts


def test_difficulty_text_reads_as_the_stored_fraction() -> None:
    assert share_difficulty("65536") == 65536.0
    assert share_difficulty("1/1024") == 1 / 1024
    assert share_difficulty(str(Fraction(3, 7))) == 3 / 7


def test_the_window_moves_as_shares_arrive_and_the_difficulty_changes(
    open_ledger_store: OpenStore,
) -> None:
    store = open_ledger_store(scheme="pplns")
    reader = reader_of(store)
    window = PplnsWindow()
    rng = random.Random(18)
    accounts = ["alice", "bob", "carol", "dave"]
    for step in range(12):
        batch = [share(rng.choice(accounts), Fraction(rng.choice([1, 2, 4, 8]), 4))
                 for _ in range(rng.randrange(0, 60))]  # fmt: skip
        store.insert_shares(batch)
        size = Fraction(rng.choice([3, 10, 40, 160, 400]), 2)  # grows and shrinks
        window.refresh(reader, float(size))
        got = {a: int(v[0]) for a, v in window.accounts.items()}
        assert got == expected_window(store, size), f"step {step}"
        assert window.complete
        total = sum(float(s.difficulty) for i, s in store.shares() if i >= window.first)
        assert abs(window.total - total) < 1e-9
        if got:
            assert window.of("alice").shares == got.get("alice", 0)


def test_a_first_refresh_reads_back_from_the_newest_share(open_ledger_store: OpenStore) -> None:
    """A pool with a long history: the window is read from the horizon back, never from
    the first share forward."""
    store = open_ledger_store(scheme="pplns")
    store.insert_shares([share("old", 1) for _ in range(3000)])
    store.insert_shares([share("new", 1) for _ in range(10)])
    reads: list[int] = []
    reader = reader_of(store)
    real = reader.shares_after

    def counted(after: int, upto: int, limit: int = 5000) -> list[Row]:
        rows = real(after, upto, limit)
        reads.append(len(rows))
        return rows

    reader.shares_after = counted  # type: ignore[method-assign]
    window = PplnsWindow()
    window.refresh(reader, 12.0)
    assert window.accounts == {"new": [10, 10.0], "old": [2, 2.0]}
    assert sum(reads) == 0


def test_balance_payouts_and_blocks_of_one_account(open_ledger_store: OpenStore) -> None:
    store = open_ledger_store(scheme="pplns", min_payout_sat=1000)
    ids = store.insert_shares([share("alice", 1), share("bob", 1), share("alice", 2)])
    block = store.record_block(found(ids[-1], reward=100_000, network_difficulty=2,
                                     account="alice", height=7))  # fmt: skip
    store.record_block(found(ids[1], reward=50_000, network_difficulty=2, account="bob",
                             height=6, tag=99))  # fmt: skip
    store.set_block_status(block.id, BlockStatus.CONFIRMED)
    batch = store.create_batch(1000, {"alice": "rb1qalice"}, accounts={"alice"})
    assert batch is not None
    store.mark_batch_sent(batch.id, "ab" * 32)
    reader = reader_of(store)

    balance = reader.balance("alice")
    assert balance is not None and balance.paid == batch.outputs["alice"] > 0
    assert reader.balance("nobody") is None
    payouts = reader.payouts("alice", 10)
    assert [(p.batch_id, p.amount, p.address, p.status, p.txid) for p in payouts] == [
        (batch.id, batch.outputs["alice"], "rb1qalice", "sent", "ab" * 32)]
    assert reader.payouts("bob", 10) == []  # bob's money is not alice's page
    assert [b.height for b in reader.blocks(10)] == [7, 6]
    assert [b.account for b in reader.blocks(10, account="alice")] == ["alice"]
    assert [b.height for b in reader.blocks(1, offset=1)] == [6]
    assert reader.block_counts() == {"confirmed": 1, "pending": 1}
    assert FEE_ACCOUNT not in {b.account for b in reader.blocks(10)}
