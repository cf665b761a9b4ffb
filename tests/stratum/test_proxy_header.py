"""The PROXY protocol parser (pool.stratum.proxy_header): v2 and v1 headers as HAProxy
writes them, split at every byte, and every malformed header named."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from pool.stratum.proxy_header import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    looks_like_header,
    parse,
)


def v2(src: str = "203.0.113.7", dst: str = "10.0.0.1", sport: int = 40000, dport: int = 3333,
       *, command: int = 1, family: int | None = None, tlv: bytes = b"",
       length: int | None = None) -> bytes:  # fmt: skip
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if family is None:
        family = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack(">HH", sport, dport) + tlv
    size = len(body) if length is None else length
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack(">H", size) + body


STRATUM = b'{"id":1,"method":"mining.subscribe","params":[]}\n'


@pytest.mark.parametrize("header", [
    v2(), v2(tlv=b"\x04\x00\x01\x00"),  # with a NOOP TLV (skipped)
])  # fmt: skip
def test_v2_ipv4_at_every_split(header: bytes) -> None:
    data = header + STRATUM
    for cut in range(len(header)):
        assert parse(data[:cut]) is None, cut
    parsed = parse(data)
    assert parsed == ProxyHeader(2, len(header), ("203.0.113.7", 40000), ("10.0.0.1", 3333))
    assert data[parsed.length:] == STRATUM


def test_v2_ipv6_local_and_unspec() -> None:
    header = v2("2001:db8::1", "2001:db8::2", 1, 2)
    assert parse(header) == ProxyHeader(2, len(header), ("2001:db8::1", 1), ("2001:db8::2", 2))
    local = V2_SIGNATURE + b"\x20\x00\x00\x00"
    assert parse(local) == ProxyHeader(2, 16, None)
    unspec = V2_SIGNATURE + b"\x21\x00\x00\x00"
    assert parse(unspec) == ProxyHeader(2, 16, None)


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 198.51.100.2 10.0.0.1 51000 3333\r\n",
    b"PROXY TCP6 2001:db8::5 2001:db8::1 51000 3333\r\n",
])  # fmt: skip
def test_v1_at_every_split(line: bytes) -> None:
    data = line + STRATUM
    for cut in range(len(line)):
        assert parse(data[:cut]) is None, cut
    parsed = parse(data)
    assert parsed is not None and parsed.version == 1 and parsed.length == len(line)
    assert parsed.source is not None and parsed.source[1] == 51000
    assert parse(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, 15, None)


@pytest.mark.parametrize(("data", "why"), [
    (STRATUM, "does not start with one"),
    (b"\r\n\r\n\x00\r\nQUIX\n" + bytes(8), "signature"),
    (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version 1"),
    (V2_SIGNATURE + b"\x2f\x11\x00\x0c" + bytes(12), "command 15"),
    (V2_SIGNATURE + b"\x21\x11\xff\xff", "65535 bytes"),
    (v2(length=8)[:16] + bytes(8), "12 needed"),
    (V2_SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12), "36 needed"),
    (v2(family=0x12), "0x12"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "PROXY TCP4|TCP6"),
    (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4|TCP6"),
    (b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "not TCP4"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "0-65535"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "0-65535"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "0-65535"),
    (b"PROXY TCP4 \xff.2.3.4 5.6.7.8 1 2\r\n", "not ASCII"),
    (b"PROXY TCP4 " + b"1" * 120, "longer than 107"),
    (b"PROXx", "does not start with one"),
])  # fmt: skip
def test_malformed_headers_are_named(data: bytes, why: str) -> None:
    with pytest.raises(ProxyHeaderError, match=why):
        parse(data)


def test_what_looks_like_a_header() -> None:
    assert looks_like_header(b"\r\n") and looks_like_header(V2_SIGNATURE)
    assert looks_like_header(b"PRO") and looks_like_header(b"PROXY TCP4")
    assert not looks_like_header(STRATUM) and not looks_like_header(b"")
