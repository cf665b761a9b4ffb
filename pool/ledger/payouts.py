"""Paying balances exactly once.

The protocol, each step its own committed transaction or wallet call:
  1. record the batch (id, outputs) and move the amounts from payable to pending;
  2. `wallet.sendmany(outputs)`;
  3. record the txid and move the amounts from pending to paid.
A crash after 1 leaves a batch in status `created`. Before any new batch is built, such a
batch is reconciled from the wallet's own transaction list: if a transaction pays exactly
its outputs (and is not recorded for another batch) the batch was sent and its txid is
recorded; otherwise the wallet never saw it and it is sent now. Nothing is ever sent for
a batch that the wallet shows as paid, so no crash point can pay twice. (It assumes the
wallet records a transaction before `sendmany` returns, as bitcoind and bcoin do, and that
nobody else sends identical output sets from the pool's wallet by hand.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pool.ledger.errors import PayoutInDoubt, PayoutStillInWallet
from pool.ledger.records import PayoutBatch
from pool.ledger.store import LedgerStore
from pool.ledger.wallet import Wallet, find_payment, sent_outputs, similar_payments


@dataclass(frozen=True, slots=True)
class Reconciled:
    batch_id: int
    txid: str
    how: str  # "found in wallet" | "sent now"


@dataclass(slots=True)
class PayoutReport:
    dry_run: bool
    due: dict[str, int] = field(default_factory=dict)  # what a new batch pays (or would)
    unfinished: list[PayoutBatch] = field(default_factory=list)  # seen before reconciling
    reconciled: list[Reconciled] = field(default_factory=list)
    batch: PayoutBatch | None = None
    txid: str | None = None

    def rows(self) -> list[dict[str, object]]:
        """Plain rows for the CLI table: one per output of the new (or would-be) batch."""
        batch_id = None if self.batch is None else self.batch.id
        return [
            {"batch": batch_id, "account": account, "amount_sat": amount, "txid": self.txid}
            for account, amount in sorted(self.due.items())
        ]


def locate_in_wallet(store: LedgerStore, wallet: Wallet, batch: PayoutBatch) -> str | None:
    """The txid of the wallet transaction that paid `batch`, or None when the wallet shows
    nothing like it. Raises PayoutInDoubt when a transaction resembles the batch without
    matching it exactly: then neither recording nor resending is safe."""
    sent = sent_outputs(wallet.list_transactions())
    taken = store.recorded_txids()
    txid = find_payment(batch.outputs, sent, taken)
    if txid is None:
        suspects = similar_payments(batch.outputs, sent, taken)
        if suspects:
            raise PayoutInDoubt(batch.id, suspects)
    return txid


def reconcile(store: LedgerStore, wallet: Wallet) -> list[Reconciled]:
    """Settle every batch whose send is in doubt: record it if the wallet paid it, send it
    if the wallet never saw it."""
    done = []
    for batch in store.unfinished_batches():
        txid = locate_in_wallet(store, wallet, batch)
        if txid is not None:
            store.mark_batch_sent(batch.id, txid)
            done.append(Reconciled(batch.id, txid, "found in wallet"))
            continue
        txid = wallet.sendmany(dict(batch.outputs))
        store.mark_batch_sent(batch.id, txid)
        done.append(Reconciled(batch.id, txid, "sent now"))
    return done


def run_payouts(
    store: LedgerStore, wallet: Wallet | None, min_payout: int, dry_run: bool = False
) -> PayoutReport:
    """Reconcile, then build, record, send and record one batch of due payouts.

    With `dry_run` nothing is written or sent: the report shows the batch that would be
    built and any batch still in doubt. If `sendmany` raises, the batch stays `created`
    and the next run reconciles it (the error propagates to the operator)."""
    if dry_run:
        return PayoutReport(
            dry_run=True, due=store.due_payouts(min_payout), unfinished=store.unfinished_batches()
        )
    if wallet is None:
        raise ValueError("paying out needs a wallet (sendmany, list_transactions)")
    report = PayoutReport(dry_run=False, unfinished=store.unfinished_batches())
    report.reconciled = reconcile(store, wallet)
    batch = store.create_batch(min_payout)
    if batch is None:
        return report
    report.batch = batch
    report.due = dict(batch.outputs)
    report.txid = wallet.sendmany(dict(batch.outputs))
    store.mark_batch_sent(batch.id, report.txid)
    return report


def resolve_batch(store: LedgerStore, batch_id: int, txid: str) -> bool:
    """Operator's answer to PayoutInDoubt: this wallet transaction paid the batch."""
    return store.mark_batch_sent(batch_id, txid)


def cancel_batch(store: LedgerStore, wallet: Wallet, batch_id: int) -> bool:
    """Give an unsent batch back to payable (e.g. the wallet lacked funds), but only after
    the wallet shows no transaction paying it."""
    for batch in store.unfinished_batches():
        if batch.id == batch_id:
            txid = locate_in_wallet(store, wallet, batch)
            if txid is not None:
                raise PayoutStillInWallet(f"payout batch {batch_id} was paid by {txid}")
            return store.cancel_batch(batch_id)
    return False
