"""`surplus ledger`: balances, blocks and payouts of a pool's ledger."""

from pool.cli import register_ledger as register
from pool.cli import run_ledger as run

__all__ = ["register", "run"]
