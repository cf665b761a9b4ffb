"""Payout addresses to scriptPubKeys (and back, for display and tests).

Only standard, spendable payout types are accepted: P2PKH, P2SH, P2WPKH, P2WSH and
P2TR. A future witness version is a valid BIP350 string but anyone-can-spend today,
so it is refused as a payout. Every error is a ValueError naming the address and why.
"""

from __future__ import annotations

from pool.bitcoin import bech32
from pool.bitcoin.base58 import b58check_decode, b58check_encode
from pool.bitcoin.networks import NETWORKS, Network, get_network

P2PKH_PREFIX = b"\x76\xa9\x14"
P2PKH_SUFFIX = b"\x88\xac"
P2SH_PREFIX = b"\xa9\x14"
P2SH_SUFFIX = b"\x87"


def p2pkh_script(hash160: bytes) -> bytes:
    return P2PKH_PREFIX + _len_checked(hash160, 20) + P2PKH_SUFFIX


def p2sh_script(hash160: bytes) -> bytes:
    return P2SH_PREFIX + _len_checked(hash160, 20) + P2SH_SUFFIX


def witness_script(version: int, program: bytes) -> bytes:
    if not 0 <= version <= 16:
        raise ValueError(f"witness version {version} out of range")
    opcode = 0 if version == 0 else 0x50 + version
    return bytes((opcode, len(program))) + program


def _len_checked(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise ValueError(f"expected {size} bytes, got {len(data)}")
    return data


def _decode_for(address: str, net: Network) -> bytes:
    """scriptPubKey of `address` on `net`; ValueError(reason) when it does not fit."""
    lowered = address.lower()
    for hrp in net.hrps:
        if lowered.startswith(hrp + "1"):
            version, program = bech32.decode_segwit(hrp, address)
            if version == 0:
                return witness_script(0, program)  # P2WPKH (20) or P2WSH (32)
            if version == 1 and len(program) == 32:
                return witness_script(1, program)  # P2TR
            raise ValueError(
                f"is witness v{version} with a {len(program)}-byte program, "
                "not a standard payout type (only v0 and v1/taproot are)"
            )
    hrp = lowered[: lowered.rfind("1")] if "1" in lowered else ""
    if hrp and (hrp in _KNOWN_HRPS or _looks_bech32(address)):
        raise ValueError(f"has bech32 prefix {hrp!r}, expected {' or '.join(map(repr, net.hrps))}")
    payload = b58check_decode(address)
    if len(payload) != 21:
        raise ValueError(f"decodes to {len(payload)} bytes, a legacy address has 21")
    version, body = payload[0], payload[1:]
    if version in net.p2pkh:
        return p2pkh_script(body)
    if version in net.p2sh:
        return p2sh_script(body)
    raise ValueError(f"has version byte {version:#04x}, not P2PKH or P2SH on {net.name}")


_KNOWN_HRPS = frozenset(hrp for net in NETWORKS.values() for hrp in net.hrps)


def _looks_bech32(address: str) -> bool:
    try:
        bech32.bech32_decode(address)
    except ValueError:
        return False
    return True


def _other_networks(address: str, net: Network) -> list[str]:
    found = []
    for name, other in NETWORKS.items():
        if other is net or other.name != name:
            continue
        try:
            _decode_for(address, other)
        except ValueError:
            continue
        found.append(name)
    return found


def address_to_script(address: str, network: str | Network) -> bytes:
    """The scriptPubKey paying `address` on `network`.

    Raises ValueError naming the address, the network and the reason."""
    net = get_network(network)
    if not isinstance(address, str) or not address:
        raise ValueError(f"invalid {net.name} address {address!r}: empty")
    stripped = address.strip()
    if stripped != address:
        raise ValueError(f"invalid {net.name} address {address!r}: surrounding whitespace")
    try:
        return _decode_for(address, net)
    except ValueError as exc:
        others = _other_networks(address, net)
        why = f"it is a {'/'.join(others)} address" if others else str(exc)
        raise ValueError(f"invalid {net.name} address {address!r}: {why}") from None


def script_to_address(script: bytes, network: str | Network) -> str | None:
    """The address for a standard scriptPubKey, or None when it has none."""
    net = get_network(network)
    if len(script) == 25 and script[:3] == P2PKH_PREFIX and script[23:] == P2PKH_SUFFIX:
        return b58check_encode(bytes((net.p2pkh[0],)) + script[3:23])
    if len(script) == 23 and script[:2] == P2SH_PREFIX and script[22:] == P2SH_SUFFIX:
        return b58check_encode(bytes((net.p2sh[0],)) + script[2:22])
    if 4 <= len(script) <= 42 and script[1] == len(script) - 2:
        op = script[0]
        if op == 0 or 0x51 <= op <= 0x60:
            version = 0 if op == 0 else op - 0x50
            try:
                return bech32.encode_segwit(net.hrps[0], version, script[2:])
            except ValueError:
                return None
    return None
