"""Whether a found block is still pending, confirmed (credits payable) or orphaned.

Pure: the caller asks the node for the hash at the block's height and the tip height.
A coinbase can be spent once it has COINBASE_MATURITY confirmations (the block itself
counts as one), so credits become payable exactly when the reward becomes spendable.
"""

from __future__ import annotations

from pool.ledger.records import BlockStatus

COINBASE_MATURITY = 100


def confirmations(height: int, tip_height: int) -> int:
    """Blocks on top of and including `height`; 0 when the tip is below it."""
    return max(0, tip_height - height + 1)


def block_status(
    height: int,
    our_hash: str,
    node_hash: str | None,
    tip_height: int,
    maturity: int = COINBASE_MATURITY,
) -> BlockStatus:
    """Decide a pending block's fate from what the node reports.

    - the node has no block at that height (it is behind, or a reorg made the chain
      shorter): still pending, nothing is known yet;
    - another block sits at that height: orphaned (a reorg replaced ours);
    - ours is there with at least `maturity` confirmations: confirmed;
    - otherwise pending.
    """
    if maturity < 1:
        raise ValueError(f"maturity must be at least 1, got {maturity}")
    if node_hash is None or tip_height < height:
        return BlockStatus.PENDING
    if node_hash.lower() != our_hash.lower():
        return BlockStatus.ORPHANED
    if confirmations(height, tip_height) >= maturity:
        return BlockStatus.CONFIRMED
    return BlockStatus.PENDING
