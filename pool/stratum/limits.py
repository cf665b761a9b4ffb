"""Per-address connection limits: who an address is, which networks are trusted, the
process's file-descriptor budget, and throttled logging of refusals.

Pure helpers the server composes. An address is an IPv4 address, or the /64 an IPv6
address belongs to (one subscriber line gets a whole /64, so counting single IPv6
addresses would let one host open connections without limit). A farm behind one NAT
address is the reason trusted networks exist: they skip the per-address cap and are
never banned as a whole (the misbehaving connection is still closed).
"""

from __future__ import annotations

import ipaddress
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Descriptors kept back from the Stratum connections: the node's RPC, the ledger, the
# metrics and stats API listeners and their clients, log files.
FD_RESERVE = 128


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings -> networks (host bits allowed: "10.1.2.3/16" means 10.1.0.0/16).
    ValueError names the bad entry."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a network in CIDR notation: {value!r}") from None
    return tuple(out)


def _ip(remote: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(remote: str) -> str:
    """What limits and bans count by: the IPv4 address, or the IPv6 /64."""
    ip = _ip(remote)
    if ip is None:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def is_trusted(remote: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    ip = _ip(remote)
    return ip is not None and any(ip in net for net in networks)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, hard
    return soft, soft


def connection_budget(configured: int, fd_limit: int) -> int:
    """The connections the process can hold: the configured maximum, or what the fd limit
    leaves after FD_RESERVE, whichever is lower. Refusing at this count (with a log line)
    beats accept() failing with EMFILE, which refuses everyone silently."""
    return max(1, min(configured, fd_limit - FD_RESERVE))


@dataclass(eq=False)
class LogThrottle:
    """One log line for the first event, then at most one summary per `interval`
    (counts by reason), so a flood of refused or closed connections never floods the
    log. `flush` is called periodically (the server's sweep)."""

    logger: logging.Logger
    what: str
    _: KW_ONLY
    level: int = logging.WARNING
    interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    held: Counter[str] = field(init=False, default_factory=Counter)
    _quiet_until: float = field(init=False, default=float("-inf"))

    def event(self, reason: str, message: str, *args: object) -> None:
        now = self.clock()
        if now >= self._quiet_until and not self.held:
            self.logger.log(self.level, message, *args)
            self._quiet_until = now + self.interval
        else:
            self.held[reason] += 1

    def flush(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if not self.held or now < self._quiet_until:
            return
        total = sum(self.held.values())
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(self.held.items()))
        self.logger.log(self.level, "%s: %d more in the last %.0f s (%s)", self.what, total,
                        self.interval, detail)
        self.held.clear()
        self._quiet_until = now + self.interval
