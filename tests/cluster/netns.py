"""Pool hosts as Linux network namespaces on one machine (`ip netns`, veth pairs).

Each host is a namespace with its own loopback and one veth link to the machine's own
namespace: the host is 10.X.<n>.2, the machine's side of its link 10.X.<n>.1 (X picked
at random per test, so two runs side by side do not meet). The machine's side binds
nothing but HAProxy, which is the only way in and out of a host: its Stratum frontend
on the machine's loopback forwards to the hosts (send-proxy-v2), and two plain TCP
frontends on 10.X.<n>.1 forward the hosts' PostgreSQL and node RPC connections to the
machine's loopback, where PostgreSQL and bcoin listen. So the hosts share nothing but
what real hosts would: the network to HAProxy, PostgreSQL and the node.

Creating namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); where it is refused the
test fails saying so, it never skips.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field

import pytest


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str  # the namespace
    index: int
    octet: int = 201  # 10.<octet>.0.0/16: the test's own network (runs side by side)

    @property
    def address(self) -> str:
        return f"10.{self.octet}.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.{self.octet}.{self.index}.1"

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


@dataclass
class Hosts:
    count: int
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    octet: int = field(default_factory=lambda: 200 + secrets.randbelow(50))
    hosts: list[Host] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"10.{self.octet}.0.0/16"

    def __enter__(self) -> Hosts:
        try:
            for n in range(1, self.count + 1):
                host = Host(f"surplus-{self.tag}-{n}", n, self.octet)
                outside, inside = f"sv{self.tag}{n}a", f"sv{self.tag}{n}b"
                ip("netns", "add", host.name)
                self.hosts.append(host)
                ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                ip("link", "set", inside, "netns", host.name)
                ip("addr", "add", f"{host.gateway}/30", "dev", outside)
                ip("link", "set", outside, "up")
                ns = ["netns", "exec", host.name, "ip"]
                ip(*ns, "addr", "add", f"{host.address}/30", "dev", inside)
                ip(*ns, "link", "set", inside, "up")
                ip(*ns, "link", "set", "lo", "up")
                ip(*ns, "route", "add", "default", "via", host.gateway)
        except RuntimeError as exc:
            self.__exit__()
            pytest.fail(f"cannot create network namespaces for the pool hosts (this test "
                        f"needs root and `ip netns`): {exc}", pytrace=False)  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        for host in self.hosts:
            subprocess.run(["ip", "netns", "pids", host.name], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)
            # the machine's end of the veth pair goes with its peer
        self.hosts.clear()
