from __future__ import annotations

import pytest

from pool.ledger.maturity import COINBASE_MATURITY, block_status, confirmations
from pool.ledger.records import BlockStatus

OURS = "00" * 31 + "aa"
THEIRS = "00" * 31 + "bb"


def test_confirmations_count_the_block_itself() -> None:
    assert confirmations(100, 100) == 1
    assert confirmations(100, 199) == 100
    assert confirmations(100, 50) == 0


@pytest.mark.parametrize(
    ("node_hash", "tip", "expected"),
    [
        (OURS, 100, BlockStatus.PENDING),  # 1 confirmation
        (OURS, 198, BlockStatus.PENDING),  # 99
        (OURS, 199, BlockStatus.CONFIRMED),  # 100: the coinbase is spendable
        (OURS.upper(), 250, BlockStatus.CONFIRMED),  # hex case does not matter
        (THEIRS, 100, BlockStatus.ORPHANED),  # a reorg replaced it
        (THEIRS, 400, BlockStatus.ORPHANED),
        (None, 99, BlockStatus.PENDING),  # node behind / chain shorter: unknown yet
        (OURS, 99, BlockStatus.PENDING),
    ],
)
def test_block_status(node_hash: str | None, tip: int, expected: BlockStatus) -> None:
    assert block_status(100, OURS, node_hash, tip) is expected


def test_custom_maturity() -> None:
    assert COINBASE_MATURITY == 100
    assert block_status(10, OURS, OURS, 11, maturity=2) is BlockStatus.CONFIRMED
    with pytest.raises(ValueError):
        block_status(10, OURS, OURS, 11, maturity=0)
