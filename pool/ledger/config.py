"""The `[ledger]` configuration section, validated with pydantic.

The pool's TOML loader embeds this model; errors name the key and what was expected.

Which crash an answered (`true`) share survives, per durability setting:

| setting                          | kill -9 of the pool | DB server crash | OS crash / power loss |
| -------------------------------- | ------------------- | --------------- | --------------------- |
| sqlite_synchronous = "FULL"      | yes                 | (no server)     | yes                   |
| sqlite_synchronous = "NORMAL"    | yes                 | (no server)     | no: last commits lost |
| pg_synchronous_commit = "on"     | yes                 | yes             | yes                   |
| pg_synchronous_commit = "off"    | yes                 | no: last ~0.6 s | no: last ~0.6 s       |

The issue's promise is the first column; the defaults (FULL, on) also keep the others.
Neither relaxed setting can corrupt the database or reorder commits: a crash drops at most
a suffix of the most recent share batches (SQLite NORMAL: the commits whose WAL pages
the kernel had not yet written out; PostgreSQL off: up to three wal_writer_delay periods).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pool.ledger.records import Scheme

DUST_LIMIT_SAT = 546  # Bitcoin Core's dust limit of the largest standard output (P2PKH)


class LedgerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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
    min_payout_sat: int = Field(
        default=100_000, ge=DUST_LIMIT_SAT,
        description="smallest payout; at least the dust limit, below which a wallet refuses "
        "the output and with it the whole batch",
    )
    maturity: int = Field(default=100, ge=1, description="confirmations before credits pay")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL: answered shares survive kill -9, an OS crash and power loss; "
        "NORMAL: kill -9 (any process crash) only",
    )
    pg_synchronous_commit: Literal["on", "off"] = Field(
        default="on",
        description="share writers' synchronous_commit. on: answered shares survive kill -9, "
        "a server crash and power loss; off: kill -9 of the pool only",
    )
    commit_delay_ms: float = Field(
        default=0.0, ge=0, le=50,
        description="0: pipelined group commit (commit as soon as a writer is free); > 0: "
        "a batch that starts alone waits this long for company",
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
