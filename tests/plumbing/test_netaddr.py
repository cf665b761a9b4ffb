"""plumbing.netaddr: loopback is decided by `ipaddress`, never by a string prefix."""

from __future__ import annotations

import pytest

from plumbing.netaddr import is_loopback_ip, loopback_host, resolve, split_host_port


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("127.9.8.7", "127.9.8.7"), ("::1", "::1"),
     ("[::1]", "::1"), ("::ffff:127.0.0.1", "::ffff:127.0.0.1")],
)  # fmt: skip
def test_loopback_literals_pass(host: str, expected: str) -> None:
    assert loopback_host(host) == expected and is_loopback_ip(host)


@pytest.mark.parametrize(
    "host",
    ["127.attacker.example", "127.0.0.1.nip.io", "127.1", "0.0.0.0", "10.0.0.1", "::",
     "example.com", "", "127.0.0.1 "],
)  # fmt: skip
def test_everything_else_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        loopback_host(host)
    assert not is_loopback_ip(host)


def test_localhost_is_taken_by_resolving_it_to_loopback() -> None:
    addresses = resolve("localhost")
    assert addresses and all(ip.is_loopback for ip in addresses)
    assert loopback_host("localhost") == "localhost"
    assert not is_loopback_ip("localhost")  # a literal check resolves nothing


def test_split_host_port() -> None:
    assert split_host_port("127.0.0.1:9102") == ("127.0.0.1", 9102)
    assert split_host_port("[::1]:0", allow_zero=True) == ("::1", 0)
    for bad in ("9102", "127.0.0.1:", "::1:9102", "127.0.0.1:0", "h:70000"):
        with pytest.raises(ValueError, match="expected"):
            split_host_port(bad)
