"""Payout addresses on every network, against BIP173/BIP350 and Bitcoin Core vectors."""

from __future__ import annotations

import pytest

from pool.bitcoin import bech32
from pool.bitcoin.address import address_to_script, script_to_address
from pool.bitcoin.base58 import b58check_decode, b58check_encode, b58decode, b58encode
from pool.bitcoin.networks import get_network
from tests.vectors import load

BECH32 = load("bech32.json")
KEY_IO = load("key_io_addresses.json")["valid"]
STANDARD = [v for v in KEY_IO if v[1][:2] in ("76", "a9", "00") or v[1].startswith("5120")]
FUTURE = [v for v in KEY_IO if v not in STANDARD]


@pytest.mark.parametrize("text", BECH32["valid_bech32"])
def test_valid_bech32(text: str) -> None:
    _hrp, _data, spec = bech32.bech32_decode(text)
    assert spec is bech32.Encoding.BECH32
    pos = text.rfind("1")
    corrupted = text[: pos + 1] + chr(ord(text[pos + 1]) ^ 1) + text[pos + 2 :]
    with pytest.raises(ValueError):
        bech32.bech32_decode(corrupted)


@pytest.mark.parametrize("text", BECH32["valid_bech32m"])
def test_valid_bech32m(text: str) -> None:
    assert bech32.bech32_decode(text)[2] is bech32.Encoding.BECH32M


@pytest.mark.parametrize(("text", "encoding"), [
    *((text, bech32.Encoding.BECH32) for text in BECH32["invalid_bech32"]),
    *((text, bech32.Encoding.BECH32M) for text in BECH32["invalid_bech32m"]),
])  # fmt: skip
def test_invalid_bech32_and_bech32m(text: str, encoding: bech32.Encoding) -> None:
    try:
        spec = bech32.bech32_decode(text)[2]
    except ValueError:
        return
    assert spec is not encoding


@pytest.mark.parametrize(("address", "script"), BECH32["valid_address"])
def test_bip_segwit_addresses(address: str, script: str) -> None:
    hrp = "bc" if address.lower().startswith("bc") else "tb"
    version, program = bech32.decode_segwit(hrp, address)
    assert bytes((version + 0x50 if version else 0, len(program))) + program == bytes.fromhex(
        script
    )
    assert bech32.encode_segwit(hrp, version, program) == address.lower()


@pytest.mark.parametrize("address", BECH32["invalid_address"])
def test_bip_invalid_segwit_addresses(address: str) -> None:
    for hrp in ("bc", "tb"):
        with pytest.raises(ValueError):
            bech32.decode_segwit(hrp, address)
    for network in ("mainnet", "testnet"):
        with pytest.raises(ValueError, match="invalid"):
            address_to_script(address, network)


@pytest.mark.parametrize(("hrp", "version", "length"), BECH32["invalid_address_enc"])
def test_bip_invalid_encodings(hrp: str, version: int, length: int) -> None:
    with pytest.raises(ValueError):
        address = bech32.encode_segwit(hrp, version, bytes(length))
        bech32.decode_segwit(hrp.lower(), address)
        if hrp != hrp.lower():
            raise ValueError("upper-case hrp encodes a mixed-case string")


@pytest.mark.parametrize(("address", "script", "chain"), STANDARD)
def test_core_vectors_every_type_every_network(address: str, script: str, chain: str) -> None:
    expected = bytes.fromhex(script)
    assert address_to_script(address, chain) == expected
    assert script_to_address(expected, chain) == address
    if address[:2].lower() in ("bc", "tb"):
        assert address_to_script(address.upper(), chain) == expected  # case-flip allowed


def test_every_payout_type_is_covered() -> None:
    kinds = {
        ("76a914", "P2PKH"),
        ("a914", "P2SH"),
        ("0014", "P2WPKH"),
        ("0020", "P2WSH"),
        ("5120", "P2TR"),
    }
    for chain in ("main", "testnet4", "signet", "regtest"):
        scripts = [s for _a, s, c in STANDARD if c == chain]
        for prefix, kind in kinds:
            assert any(s.startswith(prefix) for s in scripts), (chain, kind)


@pytest.mark.parametrize(("address", "script", "chain"), FUTURE)
def test_future_witness_versions_are_refused_as_payouts(
    address: str, script: str, chain: str
) -> None:
    hrp = address[: address.rfind("1")]
    version, program = bech32.decode_segwit(hrp, address)
    assert bytes((0x50 + version, len(program))) + program == bytes.fromhex(script)
    with pytest.raises(ValueError, match=f"{address}.*not a standard payout"):
        address_to_script(address, chain)


def test_wrong_network_is_named() -> None:
    with pytest.raises(ValueError, match=r"1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo.*mainnet"):
        address_to_script("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "regtest")
    with pytest.raises(ValueError, match=r"testnet address 'bcrt1q.*regtest"):
        address_to_script("bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9", "testnet")
    with pytest.raises(ValueError, match="bech32 prefix 'bc', expected 'tb'"):
        address_to_script("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "testnet")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("", "empty"),
        (" 1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "whitespace"),
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp", "checksum"),
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN20", "base58 character '0'"),
        ("bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhw", "checksum"),
    ],
)
def test_bad_addresses_name_address_and_reason(address: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as err:
        address_to_script(address, "mainnet")
    assert repr(address) in str(err.value)


def test_unknown_network() -> None:
    with pytest.raises(ValueError, match="unknown network 'bitcoincash'"):
        get_network("bitcoincash")


# bcoin 1.0.x regtest: P2PKH 0x3c ("R..."), P2SH 0x26 ("G..."), bech32 hrp "rb".
REGTEST_HASH = bytes.fromhex("fdeca3b08e38af53d7c4c60e3ad208ce50664410")  # from a Core vector


def test_bcoin_regtest_prefixes() -> None:
    p2pkh = b58check_encode(b"\x3c" + REGTEST_HASH)
    p2sh = b58check_encode(b"\x26" + REGTEST_HASH)
    p2wpkh = bech32.encode_segwit("rb", 0, REGTEST_HASH)
    p2wsh = bech32.encode_segwit("rb", 0, REGTEST_HASH + bytes(12))
    p2tr = bech32.encode_segwit("rb", 1, bytes(range(32)))
    assert p2pkh[0] == "R" and p2sh[0] == "G" and p2wpkh.startswith("rb1q")
    cases = {
        p2pkh: "76a914" + REGTEST_HASH.hex() + "88ac",
        p2sh: "a914" + REGTEST_HASH.hex() + "87",
        p2wpkh: "0014" + REGTEST_HASH.hex(),
        p2wsh: "0020" + REGTEST_HASH.hex() + "00" * 12,
        p2tr: "5120" + bytes(range(32)).hex(),
    }
    for address, script in cases.items():
        assert address_to_script(address, "regtest").hex() == script  # both styles
        assert address_to_script(address, "regtest-bcoin").hex() == script
        with pytest.raises(ValueError, match="regtest-core address"):
            address_to_script(address, "regtest-core")
        assert script_to_address(bytes.fromhex(script), "regtest-bcoin") == address
    # A Core regtest address is the same script, and bcoin-strict refuses it.
    core = "n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ"
    assert address_to_script(core, "regtest") == address_to_script(p2pkh, "regtest")
    with pytest.raises(ValueError, match="regtest-bcoin address"):
        address_to_script(core, "regtest-bcoin")


def test_base58_leading_zeros_and_checksum() -> None:
    assert b58encode(b"\x00\x00\x01") == "112"
    assert b58decode("112") == b"\x00\x00\x01"
    payload = b58check_decode("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo")
    assert payload[0] == 0 and len(payload) == 21
    with pytest.raises(ValueError, match="checksum"):
        b58check_decode("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp")
