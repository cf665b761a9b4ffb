"""Settings of the Stratum server, validated by pydantic (the TOML loader builds these).

Every limit has a default that suits a public pool and can be tightened for tests.
Unknown keys are errors, so a typo in a config file is reported instead of ignored.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pool.shares.checks import DEFAULT_VERSION_MASK


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
    """An invalid-share flood (more than `max_invalid` rejected shares, stale ones not
    counted, within `window` seconds) closes the connection and bans the address."""

    enabled: bool = True
    max_invalid: int = Field(100, ge=1)
    window: float = Field(60.0, gt=0)
    ban_seconds: float = Field(600.0, ge=0)


class StratumConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(3333, ge=0, le=65535)
    mode: Literal["solo", "pool"] = "pool"
    extranonce1_prefix: str = Field(
        "", description="hex, 0-2 bytes; tells several pool processes' extranonce1 apart"
    )
    extranonce2_size: int = Field(8, ge=2, le=8)
    version_mask: int = Field(DEFAULT_VERSION_MASK, ge=0, le=0xFFFFFFFF)
    max_line_bytes: int = Field(16 * 1024, ge=256)
    max_connections: int = Field(100_000, ge=1)
    subscribe_timeout: float = Field(30.0, gt=0, description="seconds to send mining.subscribe")
    write_buffer_limit: int = Field(256 * 1024, ge=1024, description="bytes queued per client")
    max_jobs_per_session: int = Field(16, ge=1)
    drain_timeout: float = Field(2.0, ge=0, description="seconds to flush client.reconnect")
    reconnect_wait: int = Field(0, ge=0, description="seconds miners wait before reconnecting")
    backlog: int = Field(4096, ge=1)
    fanout_threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64,
        description="threads writing a new job to the connections (send() releases the GIL)",
    )
    vardiff: VardiffConfig = VardiffConfig()
    ban: BanConfig = BanConfig()

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

    @property
    def prefix_bytes(self) -> bytes:
        return bytes.fromhex(self.extranonce1_prefix)
