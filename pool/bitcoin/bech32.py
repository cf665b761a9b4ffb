"""BIP173 bech32 and BIP350 bech32m, after the reference implementation by
Pieter Wuille (MIT), kept in-tree because the packaged `bech32` predates bech32m.
"""

from __future__ import annotations

from enum import Enum

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_BECH32M_CONST = 0x2BC830A3


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 2


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _create_checksum(hrp: str, data: list[int], spec: Encoding) -> list[int]:
    const = _BECH32M_CONST if spec is Encoding.BECH32M else 1
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def bech32_encode(hrp: str, data: list[int], spec: Encoding) -> str:
    combined = data + _create_checksum(hrp, data, spec)
    return hrp + "1" + "".join(CHARSET[d] for d in combined)


def bech32_decode(text: str) -> tuple[str, list[int], Encoding]:
    """Split and verify a bech32/bech32m string; raises ValueError saying why."""
    if any(ord(x) < 33 or ord(x) > 126 for x in text):
        raise ValueError("contains characters outside US-ASCII 33..126")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixes upper and lower case")
    text = text.lower()
    if len(text) > 90:
        raise ValueError(f"is {len(text)} characters, bech32 allows at most 90")
    pos = text.rfind("1")
    if pos < 1:
        raise ValueError("has no human-readable part before the separator '1'")
    if pos + 7 > len(text):
        raise ValueError("is too short for a checksum")
    hrp = text[:pos]
    data = []
    for char in text[pos + 1 :]:
        if char not in _CHARSET_INDEX:
            raise ValueError(f"contains invalid bech32 character {char!r}")
        data.append(_CHARSET_INDEX[char])
    const = _polymod(_hrp_expand(hrp) + data)
    if const == 1:
        spec = Encoding.BECH32
    elif const == _BECH32M_CONST:
        spec = Encoding.BECH32M
    else:
        raise ValueError("has a bad bech32 checksum")
    return hrp, data[:-6], spec


def convertbits(data: list[int] | bytes, frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out = []
    maxv = (1 << tobits) - 1
    max_acc = (1 << (frombits + tobits - 1)) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise ValueError("data value out of range")
        acc = ((acc << frombits) | value) & max_acc
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise ValueError("has non-zero or excess padding bits")
    return out


def decode_segwit(hrp: str, address: str) -> tuple[int, bytes]:
    """(witness version, program) of a segwit address with the expected hrp."""
    got_hrp, data, spec = bech32_decode(address)
    if got_hrp != hrp:
        raise ValueError(f"has prefix {got_hrp!r}, expected {hrp!r}")
    if not data:
        raise ValueError("has no witness version")
    version = data[0]
    if version > 16:
        raise ValueError(f"has invalid witness version {version}")
    program = bytes(convertbits(data[1:], 5, 8, False))
    if not 2 <= len(program) <= 40:
        raise ValueError(f"has a {len(program)}-byte witness program (allowed 2..40)")
    if version == 0 and len(program) not in (20, 32):
        raise ValueError(f"has a {len(program)}-byte v0 program (must be 20 or 32)")
    if version == 0 and spec is not Encoding.BECH32:
        raise ValueError("is witness v0 but uses bech32m (v0 must use bech32)")
    if version != 0 and spec is not Encoding.BECH32M:
        raise ValueError(f"is witness v{version} but uses bech32 (v1+ must use bech32m)")
    return version, program


def encode_segwit(hrp: str, version: int, program: bytes) -> str:
    spec = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    address = bech32_encode(hrp, [version, *convertbits(program, 8, 5, True)], spec)
    decode_segwit(hrp, address)  # raises on an impossible version/program combination
    return address
