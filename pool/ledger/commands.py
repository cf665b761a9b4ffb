"""What `surplus ledger ...` calls: synchronous, one short-lived connection each, plain
rows back (the CLI renders them)."""

from __future__ import annotations

from typing import Any

from pool.ledger import payouts as payout_steps
from pool.ledger.config import LedgerConfig
from pool.ledger.factory import open_store
from pool.ledger.payouts import PayoutReport, Resolve, run_payouts
from pool.ledger.records import BalanceRow, BlockRow
from pool.ledger.wallet import as_wallet


def balances(config: LedgerConfig) -> list[BalanceRow]:
    store = open_store(config)
    try:
        return store.balances()
    finally:
        store.close()


def blocks(config: LedgerConfig, limit: int = 1000) -> list[BlockRow]:
    store = open_store(config)
    try:
        return store.blocks(limit=limit)
    finally:
        store.close()


def payouts(
    config: LedgerConfig, wallet: Any | None, dry_run: bool = False,
    resolve: Resolve | None = None,
) -> PayoutReport:
    """Settle PPS/FPPS shares, reconcile any batch in doubt, then pay what is due (or, with
    dry_run, only show it). `wallet`: a synchronous `Wallet` or the node package's asyncio
    WalletClient; None for a dry run. `resolve`: where each account is paid (the pool's
    AccountBook); accounts it has no address for are quarantined, not paid."""
    wallet = None if wallet is None else as_wallet(wallet)
    store = open_store(config)
    try:
        if not dry_run:
            store.settle()
        return run_payouts(store, wallet, config.min_payout_sat, dry_run, resolve)
    finally:
        store.close()


def release(config: LedgerConfig, accounts: list[str] | None) -> int:
    """Let quarantined accounts (all, with None) be tried again by the next payouts."""
    store = open_store(config)
    try:
        return store.release(accounts)
    finally:
        store.close()


def resolve_batch(config: LedgerConfig, batch_id: int, txid: str) -> bool:
    """After PayoutInDoubt: record that wallet transaction `txid` paid batch `batch_id`."""
    store = open_store(config)
    try:
        return payout_steps.resolve_batch(store, batch_id, txid)
    finally:
        store.close()


def cancel_batch(config: LedgerConfig, wallet: Any, batch_id: int) -> bool:
    """Return an unsent batch to payable (refused if the wallet shows it paid)."""
    store = open_store(config)
    try:
        return payout_steps.cancel_batch(store, as_wallet(wallet), batch_id)
    finally:
        store.close()
