"""One listen type and one table shape for every endpoint a daemon serves over HTTP.

A listen address is one string, ``HOST:PORT`` (``[v6]:PORT`` for IPv6), in every file:

    [metrics]                   # the pool's, fleetd's and rigsim's Prometheus /metrics
    enabled = true              # false: not served
    listen = "127.0.0.1:9101"   # loopback only: these endpoints have no authentication

`LoopbackListen` is that string checked by plumbing.netaddr (an IP literal in
127.0.0.0/8 or ::1, or ``localhost`` resolving to loopback alone; port 0 picks a free
one); `IPListen` is the same for an endpoint with authentication, which may listen on
any IP address (fleetd's API). `ListenTable` is the table every endpoint section
extends; each daemon sets its own default port.

The spellings of the previous release are still read, with a deprecation message
(`upgrade_listen`): the pool's ``listen = "127.0.0.1"`` + ``port = 9101``, and fleetd's
``listen = ""`` for "off".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator

from plumbing.config import Deprecated, Problems, StrictModel, Upgrade
from plumbing.netaddr import loopback_host, parse_ip, split_host_port
from plumbing.redact import shown


def _loopback_listen(text: str) -> str:
    host, _port = split_host_port(text, allow_zero=True)
    loopback_host(host)
    return text


def _ip_listen(text: str) -> str:
    host, _port = split_host_port(text)
    if parse_ip(host) is None:
        raise ValueError(f"expected an IP address and port such as 127.0.0.1:8470, got {text!r}")
    return text


LoopbackListen = Annotated[str, AfterValidator(_loopback_listen)]
IPListen = Annotated[str, AfterValidator(_ip_listen)]


def host_port(listen: str) -> tuple[str, int]:
    """(host without brackets, port) of a validated listen string."""
    return split_host_port(listen, allow_zero=True)


def join_host_port(host: str, port: int) -> str:
    """The listen string for `host` and `port` (an IPv6 host in brackets)."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Listening:
    """`host` and `port` of a table's validated `listen` string (a mixin for the models
    that have one)."""

    if TYPE_CHECKING:
        listen: str  # a field of the model the mixin is part of

    @property
    def host(self) -> str:
        return host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return host_port(self.listen)[1]


class ListenTable(Listening, StrictModel):
    """An HTTP endpoint without authentication: on unless `enabled = false`, at `listen`
    (loopback only). Subclasses set the default port and add their own keys."""

    enabled: bool = True  # false: the endpoint is not served
    listen: LoopbackListen = "127.0.0.1:0"


def upgrade_listen(table: str, default_port: int, *, separate_port: bool = False) -> Upgrade:
    """Read the previous release's spellings of `[table]`'s listen address: ``listen = ""``
    for off (fleetd) and, with `separate_port`, a host-only ``listen`` with a ``port`` key
    of its own (the pool's, whose port defaulted to `default_port`)."""

    def upgrade(data: dict[str, Any]) -> list[Deprecated]:
        section = data.get(table)
        if not isinstance(section, dict):
            return []
        section = data[table] = dict(section)
        listen = section.get("listen")
        if listen == "":
            del section["listen"]
            section.setdefault("enabled", False)
            return [Deprecated(f'{table}.listen = ""', f"{table}.enabled = false")]
        if not separate_port:
            return []
        has_port = "port" in section
        host_only = isinstance(listen, str) and _host_only(listen)
        if not has_port and not host_only:
            return []
        port = section.pop("port", default_port)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise Problems([(f"{table}.port", "expected an integer port in 0..65535 (got "
                             f"{shown(port)}); write {table}.listen = \"HOST:PORT\" instead")])
        if listen is None:
            host: str | None = "127.0.0.1"
        elif not isinstance(listen, str):
            return []  # the listen check names the key and what it held
        else:
            host = listen if host_only else _host_or_none(listen)
        if host is None:
            return []
        section["listen"] = new = join_host_port(host, port)
        old = [f'{table}.listen = "{listen}"'] if host_only else []
        old += [f"{table}.port = {port}"] if has_port else []
        return [Deprecated(" and ".join(old), f'{table}.listen = "{new}"')]

    return upgrade


def _host_or_none(listen: str) -> str | None:
    try:
        return split_host_port(listen, allow_zero=True)[0]
    except ValueError:
        return None


def _host_only(listen: str) -> bool:
    """A listen string without a port: an IP literal (``::1`` too) or a name."""
    return parse_ip(listen) is not None or ":" not in listen
