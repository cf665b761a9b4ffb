"""The pool behind the miners' page, for its browser tests and its benchmark.

A pool-mode pool on the embedded devnet with a SQLite ledger and the stats API (with the
page) on an ephemeral loopback port: blocks every few seconds, shares every second or so
from a rigsim miner, so the page has live figures to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.stratum.pool_process import PAYOUT


def page_pool_config(ledger: Path, accounts: Iterable[str], *, stats_api: str = "") -> str:
    """The pool's TOML; each of `accounts` is a listed account paying PAYOUT, `stats_api`
    adds keys to [stats_api]."""
    listed = "".join(f'{name} = "{PAYOUT}"\n' for name in accounts)
    return f"""
mode = "pool"
network = "regtest"
payout_address = "{PAYOUT}"
ledger_interval = 1

[node]
devnet = true
difficulty = "0.00006103515625"   # 2^-14: a block every ~2^18 hashes (a few seconds here)

[stratum]
port = 0

[stratum.vardiff]
initial = 0.00000095367431640625  # 2^-20: a share every ~4,096 hashes
minimum = 0.0000000001
target_interval = 1.0

[ledger]
backend = "sqlite"
path = "{ledger}"
scheme = "pplns"
maturity = 2

[accounts]
{listed}
[stats_api]
listen = "127.0.0.1:0"
{stats_api}
"""
