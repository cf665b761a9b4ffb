"""Just enough block building to put real blocks (good and bad) in front of a node.

Deliberately independent of pool.bitcoin/pool.jobs: these tests check the node client,
and an error in the pool's own serialisation must not hide or fake a node answer.
"""

from __future__ import annotations

import hashlib
import struct

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def height_push(height: int) -> bytes:
    """BIP34: minimal CScriptNum push; 1..16 as OP_1..OP_16."""
    if 1 <= height <= 16:
        return bytes([0x50 + height])
    raw = height.to_bytes((height.bit_length() + 7) // 8, "little")
    if raw[-1] & 0x80:
        raw += b"\x00"
    return bytes([len(raw)]) + raw


def coinbase_tx(
    height: int, value: int, script_pubkey: bytes, tag: bytes = b"/surplus-test/"
) -> bytes:
    script_sig = height_push(height) + bytes([len(tag)]) + tag
    return (
        struct.pack("<I", 1)
        + b"\x01"
        + b"\x00" * 32
        + b"\xff\xff\xff\xff"
        + compact_size(len(script_sig))
        + script_sig
        + b"\xff\xff\xff\xff"
        + b"\x01"
        + struct.pack("<q", value)
        + compact_size(len(script_pubkey))
        + script_pubkey
        + struct.pack("<I", 0)
    )


def header(
    version: int, prev_rpc_hex: str, merkle: bytes, ntime: int, bits: int, nonce: int
) -> bytes:
    return (
        struct.pack("<I", version)
        + bytes.fromhex(prev_rpc_hex)[::-1]
        + merkle
        + struct.pack("<III", ntime, bits, nonce)
    )


def block_hash(hdr: bytes) -> str:
    return sha256d(hdr)[::-1].hex()


def grind(hdr: bytes, target: int, *, meet: bool) -> bytes:
    """Change the nonce until the header hash meets (or, ``meet=False``, misses) target."""
    for nonce in range(1 << 20):
        h = hdr[:76] + struct.pack("<I", nonce)
        if (int.from_bytes(sha256d(h), "little") <= target) == meet:
            return h
    raise AssertionError("no nonce found")


def block(hdr: bytes, txs: list[bytes]) -> bytes:
    return hdr + compact_size(len(txs)) + b"".join(txs)


def coinbase_only_block(template: dict, script_pubkey: bytes, *, meet: bool = True) -> bytes:
    """A block of the template's height holding only our coinbase (no witness data)."""
    cb = coinbase_tx(template["height"], template["coinbasevalue"], script_pubkey)
    hdr = header(
        template["version"],
        template["previousblockhash"],
        sha256d(cb),
        template["curtime"],
        int(template["bits"], 16),
        0,
    )
    return block(grind(hdr, int(template["target"], 16), meet=meet), [cb])


def base58check_decode(address: str) -> tuple[int, bytes]:
    n = 0
    for ch in address:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes(25, "big")
    payload, check = raw[:-4], raw[-4:]
    assert sha256d(payload)[:4] == check, "bad base58 checksum"
    return payload[0], payload[1:]
