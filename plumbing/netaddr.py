"""Listen addresses, parsed the same way by every daemon.

An endpoint without authentication (the pool's /metrics and stats API, fleetd's
/metrics, rigsim's meters) listens on loopback only. "Loopback" is decided by the
`ipaddress` module on an IP literal (127.0.0.0/8, ::1, and ::ffff:127.x.y.z), never
by how a string starts (``127.attacker.example`` is a host name). The one host name
taken is ``localhost``, and only when it resolves to loopback addresses alone; any
other name is refused rather than resolved, since what a name resolves to at check
time is not what it resolves to when the socket binds.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOCALHOST = "localhost"


def parse_ip(text: str) -> IPAddress | None:
    """The IP address an IP literal (``[::1]`` brackets allowed) stands for, else None."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return None


def _loopback(ip: IPAddress) -> bool:
    if ip.is_loopback:
        return True
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped is not None and mapped.is_loopback


def is_loopback_ip(text: str) -> bool:
    """True for a loopback IP literal only (no name is resolved)."""
    ip = parse_ip(text)
    return ip is not None and _loopback(ip)


def resolve(host: str) -> list[IPAddress]:
    """Every address `host` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        ip = parse_ip(str(info[4][0]).split("%", 1)[0])
        if ip is not None and ip not in found:
            found.append(ip)
    return found


def loopback_host(host: str) -> str:
    """`host` (IPv6 brackets removed) when it is a loopback IP literal, or ``localhost``
    resolving to loopback only; ValueError saying what was expected otherwise."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"expected a loopback address (127.0.0.1 or ::1), got {host!r}")
    ip = parse_ip(host)
    if ip is not None:
        if not _loopback(ip):
            raise ValueError(
                f"expected a loopback address (127.0.0.0/8 or ::1), got {host!r}"
            )
        return host[1:-1] if host.startswith("[") else host
    if host.lower().rstrip(".") != LOCALHOST:
        raise ValueError(
            f"expected a loopback IP address (127.0.0.0/8 or ::1) or localhost, got {host!r} "
            "(host names are not resolved here)"
        )
    addresses = resolve(host)
    if not addresses:
        raise ValueError(f"{host!r} does not resolve on this machine; use 127.0.0.1")
    outside = [str(ip) for ip in addresses if not _loopback(ip)]
    if outside:
        raise ValueError(
            f"{host!r} resolves to {', '.join(outside)}, not only loopback; use 127.0.0.1"
        )
    return host


def split_host_port(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host without brackets, port);
    ValueError naming the expected form. Port 0 ("pick a free one") when `allow_zero`."""
    if not isinstance(text, str):
        raise ValueError(f"expected 'address:port', got {text!r}")
    host, sep, port = text.rpartition(":")
    low = 0 if allow_zero else 1
    if not sep or not host or not port.isdigit() or not low <= int(port) <= 65535:
        raise ValueError(f"expected 'address:port' such as 127.0.0.1:9102, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"expected an IPv6 address in brackets ([::1]:9102), got {text!r}")
    return host, int(port)
