"""The settings every OpenADR 2.0b VEN of ours shares (the coordinator's and fleetd's own),
declared once; each daemon adds its VTN address, its VEN name and what the events scale."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from plumbing.config import StrictModel


class VenSettings(StrictModel):
    ven_id: str | None = Field(None, min_length=1, max_length=64)  # or the VTN assigns one
    # SIMPLE levels 0..3 as fractions of what the events scale
    simple_levels: list[float] = Field(
        default_factory=lambda: [1.0, 0.7, 0.4, 0.0], min_length=4, max_length=4
    )
    dispatch_unit: Literal["W", "kW", "MW"] = "kW"  # LOAD_DISPATCH payloads
    report_every_s: float = Field(10.0, ge=1, le=3600)  # metered power as telemetry
    retry_s: float = Field(10.0, gt=0, le=3600)  # after a failed registration
    cert: Path | None = Field(None, strict=False)  # PEM: sign our messages (with key)
    key: Path | None = Field(None, strict=False)
    vtn_fingerprint: str | None = Field(None, max_length=128)  # check the VTN's signatures
    ca_file: Path | None = Field(None, strict=False)  # for an https VTN

    @field_validator("simple_levels")
    @classmethod
    def _levels(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x <= 1 for x in v) or v != sorted(v, reverse=True):
            raise ValueError("expected four fractions in [0, 1], non-increasing")
        return v

    @field_validator("cert", "key", "ca_file")
    @classmethod
    def _paths(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        """Relative to the config file's folder (the loader's `base_dir` context)."""
        if v is None or v.is_absolute():
            return v
        return (Path((info.context or {}).get("base_dir", ".")) / v).resolve()

    @model_validator(mode="after")
    def _cert_and_key(self) -> Self:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key: expected both (to sign messages) or neither")
        return self
