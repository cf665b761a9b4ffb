"""The PROXY protocol header (HAProxy's `send-proxy-v2`, and v1's text line): who the
miner behind a load balancer really is.

Pure and synchronous: `parse(data)` reads the start of a connection's byte stream and
returns `INCOMPLETE` (send more), a `ProxyHeader` (the client's address, and how many
bytes the header took), or raises `ProxyHeaderError` saying what is wrong. The Stratum
session (pool.stratum.proxied) decides whom to believe: only peers in
`[stratum] proxy_networks` may send a header, and from them one is required.

    v2: 12-byte signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A, version/command byte
        (0x21 PROXY, 0x20 LOCAL), family/transport byte (0x11 TCP over IPv4, 0x21 TCP
        over IPv6, 0x00 UNSPEC), 2-byte big-endian length, then source and destination
        addresses and ports, then TLVs (skipped: they are the proxy's, not the miner's)
    v1: "PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\\r\\n", 107 bytes at most

LOCAL (v2) and UNKNOWN (v1) are the proxy speaking for itself (a health check): the
connection keeps the proxy's own address (`ProxyHeader.source` is None).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX: Final = b"PROXY "
V1_MAX = 107  # the spec's longest v1 line, CRLF included
V2_MAX_PAYLOAD = 2048  # addresses (36 bytes at most) plus TLVs; HAProxy sends far less
INCOMPLETE: Final = None


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY header (the message says why)."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    version: int
    length: int  # bytes the header took: the Stratum stream starts after them
    source: tuple[str, int] | None  # the client's (address, port); None for LOCAL/UNKNOWN
    destination: tuple[str, int] | None = None


def looks_like_header(data: bytes) -> bool:
    """Whether `data` (a connection's first bytes) starts like a PROXY header, as far as
    it goes: what an untrusted peer is refused for."""
    if not data:
        return False
    n = min(len(data), len(V2_SIGNATURE))
    if data[:n] == V2_SIGNATURE[:n]:
        return True
    n = min(len(data), len(V1_PREFIX))
    return data[:n] == V1_PREFIX[:n]


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`; INCOMPLETE (None) when more bytes are needed."""
    if not data:
        return INCOMPLETE
    if data[0] == 0x0D:
        return _parse_v2(data)
    if data[0] == 0x50:  # "P"
        return _parse_v1(data)
    raise ProxyHeaderError("no PROXY header: the stream does not start with one")


def _parse_v2(data: bytes) -> ProxyHeader | None:
    n = min(len(data), len(V2_SIGNATURE))
    if data[:n] != V2_SIGNATURE[:n]:
        raise ProxyHeaderError("a bad PROXY v2 signature")
    if len(data) < 16:
        return INCOMPLETE
    version_command, family, length = data[12], data[13], struct.unpack_from(">H", data, 14)[0]
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyHeaderError(f"PROXY v2 header with unknown command {command}")
    if length > V2_MAX_PAYLOAD:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes (at most {V2_MAX_PAYLOAD})")
    total = 16 + length
    if len(data) < total:
        return INCOMPLETE
    if command == 0:  # LOCAL: the proxy itself (a health check)
        return ProxyHeader(2, total, None)
    payload = data[16:total]
    if family == 0x11:  # TCP over IPv4
        if length < 12:
            raise ProxyHeaderError(f"PROXY v2 TCP/IPv4 addresses in {length} bytes (12 needed)")
        src: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(payload[0:4])
        dst: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(payload[4:8])
        sport, dport = struct.unpack_from(">HH", payload, 8)
    elif family == 0x21:  # TCP over IPv6
        if length < 36:
            raise ProxyHeaderError(f"PROXY v2 TCP/IPv6 addresses in {length} bytes (36 needed)")
        src, dst = ipaddress.IPv6Address(payload[0:16]), ipaddress.IPv6Address(payload[16:32])
        sport, dport = struct.unpack_from(">HH", payload, 32)
    elif family == 0x00:  # UNSPEC: the proxy does not know the client; keep the peer
        return ProxyHeader(2, total, None)
    else:
        raise ProxyHeaderError(f"PROXY v2 header for family/transport 0x{family:02x} "
                               "(only TCP over IPv4 or IPv6)")  # fmt: skip
    return ProxyHeader(2, total, (str(src), sport), (str(dst), dport))


def _parse_v1(data: bytes) -> ProxyHeader | None:
    n = min(len(data), len(V1_PREFIX))
    if data[:n] != V1_PREFIX[:n]:
        raise ProxyHeaderError("no PROXY header: the stream does not start with one")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError(f"a PROXY v1 line longer than {V1_MAX} bytes")
        return INCOMPLETE
    try:
        line = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("a PROXY v1 line that is not ASCII") from None
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, end + 2, None)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("a PROXY v1 line that is not PROXY TCP4|TCP6 SRC DST SPORT DPORT")
    kind = ipaddress.IPv4Address if parts[1] == "TCP4" else ipaddress.IPv6Address
    try:
        src, dst = kind(parts[2]), kind(parts[3])
    except ValueError:
        raise ProxyHeaderError(f"a PROXY v1 line with addresses that are not {parts[1]}") from None
    ports = []
    for text in parts[4:6]:
        if not (text.isdigit() and len(text) <= 5 and (text == "0" or text[0] != "0")):
            raise ProxyHeaderError("a PROXY v1 line with a port that is not 0-65535")
        port = int(text)
        if port > 65535:
            raise ProxyHeaderError("a PROXY v1 line with a port that is not 0-65535")
        ports.append(port)
    return ProxyHeader(1, end + 2, (str(src), ports[0]), (str(dst), ports[1]))
