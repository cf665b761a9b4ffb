"""The watcher's pure parts: hashblock frames, lost-message counting, tip changes."""

from __future__ import annotations

import pytest

from pool.node.watcher import SequenceGap, TipTracker, parse_hashblock


def test_hashblock_body_is_in_rpc_byte_order() -> None:
    rpc_hash = "0f" * 31 + "aa"
    msg = parse_hashblock([b"hashblock", bytes.fromhex(rpc_hash), (7).to_bytes(4, "little")])
    assert msg.blockhash == rpc_hash and msg.sequence == 7
    assert parse_hashblock([b"hashblock", bytes(32)]).sequence is None


@pytest.mark.parametrize(
    "frames",
    [[b"hashtx", bytes(32), bytes(4)], [b"hashblock", bytes(31), bytes(4)], [b"hashblock"]],
)
def test_bad_frames_are_refused(frames: list[bytes]) -> None:
    with pytest.raises(ValueError):
        parse_hashblock(frames)


def test_sequence_gaps_count_lost_messages_across_wraparound() -> None:
    gap = SequenceGap()
    assert gap.observe(5) == 0
    assert gap.observe(6) == 0
    assert gap.observe(9) == 2
    assert gap.observe(None) == 0
    gap.last = 2**32 - 1
    assert gap.observe(1) == 1


def test_tip_tracker_reports_changes_only() -> None:
    t = TipTracker()
    assert t.observe("a") and not t.observe("a")
    assert t.observe("b") and t.observe("a")  # a reorg back to a is a new tip again
