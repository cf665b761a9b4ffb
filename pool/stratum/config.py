"""Settings of the Stratum server, validated by pydantic (the TOML loader builds these).

Every limit has a default that suits a public pool and can be tightened for tests.
Unknown keys are errors, so a typo in a config file is reported instead of ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plumbing.netaddr import split_host_port
from plumbing.redact import shown
from pool.protocol import DEFAULT_VERSION_MASK
from pool.stratum.limits import parse_networks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VardiffConfig(_Strict):
    """Per-connection difficulty toward one share every `target_interval` seconds."""

    enabled: bool = True
    initial: float = Field(1.0, gt=0)
    minimum: float = Field(0.001, gt=0)
    maximum: float = Field(2.0**40, gt=0)
    target_interval: float = Field(10.0, gt=0, description="seconds per share")
    retarget_time: float = Field(60.0, gt=0, description="seconds between retargets")
    retarget_shares: int = Field(30, ge=1, description="retarget early after this many shares")
    max_step: float = Field(4.0, gt=1, description="largest factor of one retarget")
    tolerance: float = Field(0.25, ge=0, lt=1, description="no change within +-this fraction")

    @model_validator(mode="after")
    def _bounds(self) -> VardiffConfig:
        if self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}")
        if not self.minimum <= self.initial <= self.maximum:
            raise ValueError(
                f"initial {self.initial} is outside [minimum {self.minimum}, "
                f"maximum {self.maximum}]"
            )
        return self


class BanConfig(_Strict):
    """Bad requests from one address (IPv4, or IPv6 /64) within `window` seconds: every
    error answer counts one (stale shares excepted), input that closes the connection
    (not JSON, a line over the limit, a line left unfinished) counts 10. More than
    `max_invalid` closes the connection and refuses the address for `ban_seconds`
    (addresses in `trusted_networks` only lose the connection)."""

    enabled: bool = True
    max_invalid: int = Field(100, ge=1, description="bad requests allowed per window")
    window: float = Field(60.0, gt=0, description="seconds")
    ban_seconds: float = Field(600.0, ge=0, description="seconds an address stays refused")


class StratumConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(3333, ge=0, le=65535)
    mode: Literal["solo", "pool"] = "pool"
    extranonce1_prefix: str = Field(
        "", description="hex, 0-2 bytes; tells several pool processes' extranonce1 apart "
        "(a cluster derives it from node_id and the process index instead)"
    )
    processes: int | Literal["auto"] = Field(
        1, description="worker processes sharing the Stratum port (SO_REUSEPORT) under one "
        "supervisor; \"auto\": one per core. Above 1 needs node_id (with SQLite, one ledger "
        "writer process takes every process's shares)",
    )
    extranonce2_size: int = Field(8, ge=2, le=8)
    version_mask: int = Field(DEFAULT_VERSION_MASK, ge=0, le=0xFFFFFFFF)
    max_line_bytes: int = Field(16 * 1024, ge=256, description="longest request line (bytes)")
    max_connections: int = Field(
        100_000, ge=1,
        description="open connections, at most (lowered to what the fd limit allows)",
    )
    max_connections_per_ip: int = Field(
        256, ge=1, description="connections per IPv4 address or IPv6 /64 (trusted exempt); per "
        "process: a cluster host with N processes lets an address hold up to N times this"
    )
    trusted_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs exempt from the per-address cap and bans (a farm's NAT)",
    )
    proxy_protocol: bool = Field(
        False, description="accept a PROXY protocol header (v2, or v1) from proxy_networks: "
        "bans, the per-address cap and stats then see the miner's address, not the proxy's",
    )
    proxy_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs of the load balancers (HAProxy send-proxy-v2) whose connections must "
        "start with a PROXY header; from any other peer a PROXY header closes the connection",
    )
    tls_listen: str | None = Field(
        None, description="HOST:PORT of a Stratum over TLS listener (stratum+ssl; customarily "
        "port 3334 or 443) beside the plain one; needs tls_cert and tls_key",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate chain of tls_listen")
    tls_key: Path | None = Field(None, description="PEM private key of tls_listen")
    subscribe_timeout: float = Field(30.0, gt=0, description="seconds to send mining.subscribe")
    authorize_timeout: float = Field(
        60.0, gt=0, description="seconds from mining.subscribe to a successful authorize"
    )
    line_timeout: float = Field(
        30.0, gt=0, description="seconds to finish a request line once it has begun"
    )
    max_workers_per_connection: int = Field(
        256, ge=1, description="worker names one connection may authorize"
    )
    write_buffer_limit: int = Field(256 * 1024, ge=1024, description="bytes queued per client")
    max_jobs_per_session: int = Field(16, ge=1)
    drain_timeout: float = Field(
        2.0, ge=0, description="seconds to flush client.reconnect at shutdown"
    )
    answer_timeout: float = Field(
        10.0, ge=0, description="seconds shutdown waits for shares in flight to be answered"
    )
    reconnect_wait: int = Field(0, ge=0, description="seconds miners wait before reconnecting")
    backlog: int = Field(4096, ge=1)
    fanout_threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64,
        description="threads writing a new job to the connections (send() releases the GIL)",
    )
    vardiff: VardiffConfig = VardiffConfig()
    ban: BanConfig = BanConfig()

    @field_validator("trusted_networks", "proxy_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(net) for net in parse_networks(value)]

    @field_validator("processes", mode="plain")
    @classmethod
    def _processes(cls, value: Any) -> int | Literal["auto"]:
        if value == "auto":
            return "auto"
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 256:
            return value
        raise ValueError(f'expected an integer 1-256 or "auto", got {shown(value)}')

    @field_validator("extranonce1_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"extranonce1_prefix must be hex, got {value!r}") from None
        if len(raw) > 2:
            raise ValueError(f"extranonce1_prefix is at most 2 bytes, got {len(raw)}")
        return raw.hex()

    @field_validator("tls_listen")
    @classmethod
    def _tls_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value, allow_zero=True)
        return value

    @property
    def tls_address(self) -> tuple[str, int] | None:
        return None if self.tls_listen is None else split_host_port(self.tls_listen,
                                                                    allow_zero=True)

    @model_validator(mode="after")
    def _tls(self) -> StratumConfig:
        if self.tls_listen is not None and (self.tls_cert is None or self.tls_key is None):
            raise ValueError("tls_listen needs tls_cert and tls_key (PEM files)")
        return self

    @model_validator(mode="after")
    def _proxies(self) -> StratumConfig:
        if self.proxy_protocol and not self.proxy_networks:
            raise ValueError("proxy_protocol = true needs proxy_networks: the load balancers "
                             "allowed to name the client (a PROXY header from anyone else "
                             "could forge any address)")  # fmt: skip
        return self

    @property
    def prefix_bytes(self) -> bytes:
        return bytes.fromhex(self.extranonce1_prefix)
