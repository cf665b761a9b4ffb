"""Small builders shared by the ledger tests."""

from __future__ import annotations

import time
from fractions import Fraction

from pool.ledger import FoundBlock, Share

FEE_ACCOUNT = "rb1qpoolfee"


def share(
    account: str, difficulty: Fraction | int, *, height: int = 500, job: str = "1a",
    worker: str = "rig", is_block: bool = False,
) -> Share:
    return Share(account, worker, Fraction(difficulty), job, height, time.time(), is_block)


def found(share_id: int, *, reward: int, network_difficulty: Fraction | int, height: int = 500,
          account: str = "finder", tag: int | None = None) -> FoundBlock:
    tag = share_id if tag is None else tag
    return FoundBlock(
        height=height, hash=f"{tag:064x}", reward=reward, share_id=share_id, account=account,
        worker="rig", network_difficulty=Fraction(network_difficulty),
    )
