"""The mining.notify prevhash word order, checked on a real block."""

from __future__ import annotations

import pytest

from pool.bitcoin.hashes import id_from_hex
from pool.bitcoin.prevhash import (
    prevhash_from_stratum,
    stratum_prevhash,
    stratum_prevhash_from_display,
)
from tests.vectors import load


def test_word_swap_on_real_block() -> None:
    vec = load("mainnet_951658.json")
    header_prev = bytes.fromhex(vec["block_prefix_hex"])[4:36]
    display = vec["previousblockhash"]
    assert id_from_hex(display) == header_prev
    notify = stratum_prevhash(header_prev)
    # The eight 4-byte words of the display hex, in reverse order.
    words = [display[i : i + 8] for i in range(0, 64, 8)]
    assert notify == "".join(reversed(words))
    assert stratum_prevhash_from_display(display) == notify
    # A miner byte-swaps each word back and gets the header's bytes.
    assert prevhash_from_stratum(notify) == header_prev
    # Leading zeros of the display hash end up at the end of the notify string.
    assert notify.endswith("00000000") and not notify.startswith("0000")


def test_word_swap_known_pattern() -> None:
    display = "".join(f"{i:02x}" for i in range(32))
    notify = stratum_prevhash_from_display(display)
    assert notify[:8] == "1c1d1e1f" and notify[-8:] == "00010203"
    assert stratum_prevhash(id_from_hex(display)) == notify


def test_bad_lengths() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        stratum_prevhash(b"\x00" * 31)
    with pytest.raises(ValueError, match="64 hex"):
        stratum_prevhash_from_display("00")
