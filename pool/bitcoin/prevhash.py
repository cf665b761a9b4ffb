"""The mining.notify prevhash encoding.

Stratum V1 sends the previous block hash as its internal bytes with each 4-byte word
byte-swapped; equivalently, the GBT `previousblockhash` hex with the order of its eight
4-byte words reversed. Miners undo this to get the header's 32 bytes.
"""

from __future__ import annotations


def _swap_words(data: bytes) -> bytes:
    if len(data) != 32:
        raise ValueError(f"prevhash is 32 bytes, got {len(data)}")
    return b"".join(data[i : i + 4][::-1] for i in range(0, 32, 4))


def stratum_prevhash(prevhash_internal: bytes) -> str:
    """Header-order prevhash bytes -> the hex string mining.notify carries."""
    return _swap_words(prevhash_internal).hex()


def stratum_prevhash_from_display(previousblockhash: str) -> str:
    """GBT `previousblockhash` (display hex) -> mining.notify hex (words reversed)."""
    if len(previousblockhash) != 64:
        raise ValueError(f"previousblockhash {previousblockhash!r} is not 64 hex digits")
    words = [previousblockhash[i : i + 8] for i in range(0, 64, 8)]
    return "".join(reversed(words))


def prevhash_from_stratum(notify_hex: str) -> bytes:
    """mining.notify prevhash hex -> the 32 bytes as they sit in the header."""
    return _swap_words(bytes.fromhex(notify_hex))
