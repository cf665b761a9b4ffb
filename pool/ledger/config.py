"""The `[ledger]` configuration section, validated with pydantic.

The pool's TOML loader embeds this model; errors name the key and what was expected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pool.ledger.records import Scheme


class LedgerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Field(
        default=Path("surplus-ledger.sqlite3"), description="SQLite database file"
    )
    dsn: str = Field(
        default="host=127.0.0.1 port=5432 user=postgres dbname=surplus",
        description="PostgreSQL connection string (libpq format or URL)",
    )
    scheme: Scheme = Scheme.PPLNS
    pplns_n: Decimal = Field(default=Decimal(2), gt=0, description="PPLNS window in blocks")
    fee_percent: Decimal = Field(default=Decimal(1), ge=0, lt=100)
    fee_account: str = Field(default="", description="payout address of the pool fee")
    min_payout_sat: int = Field(default=100_000, ge=1)
    maturity: int = Field(default=100, ge=1, description="confirmations before credits pay")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    commit_delay_ms: float = Field(
        default=1.0, ge=0, le=50, description="how long a group commit waits for company"
    )
    max_batch: int = Field(default=5000, ge=1, le=100_000)
    pg_writer_connections: int = Field(
        default=2, ge=1, le=16,
        description="PostgreSQL: share-writer connections, so one batch is sent while "
        "another waits for its commit (SQLite always uses one writer)",
    )

    @model_validator(mode="after")
    def _fee_account_needed(self) -> LedgerConfig:
        if self.scheme is not Scheme.SOLO and not self.fee_account:
            raise ValueError(
                f"fee_account: expected the payout address that receives the pool fee and "
                f"rounding remainders (required for scheme {self.scheme.value!r})"
            )
        return self
