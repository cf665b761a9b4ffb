"""Paying balances exactly once, and never letting one account stop the others.

The protocol, each step its own committed transaction or wallet call:
  1. record the batch (id, outputs, the address of each) and move the amounts from
     payable to pending;
  2. `wallet.sendmany(outputs)`;
  3. record the txid and move the amounts from pending to paid.
A crash after 1 leaves a batch in status `created`. Before any new batch is built, such a
batch is reconciled from the wallet's own transaction list: if a transaction pays exactly
its outputs (and is not recorded for another batch) the batch was sent and its txid is
recorded; otherwise the wallet never saw it and it is sent now. Nothing is ever sent for
a batch that the wallet shows as paid, so no crash point can pay twice. (It assumes the
wallet records a transaction before `sendmany` returns, as bitcoind and bcoin do, and that
nobody else sends identical output sets from the pool's wallet by hand.)

One account cannot stop the payouts:
- an account with no payout address (`resolve` says None: not an address of the network
  and not in `[accounts]`) is quarantined before any batch is built;
- when the wallet refuses a batch because of an address (`wallet.refused_address`: it
  answered, and sent nothing), the batch is cancelled (its amounts go back to payable)
  and its outputs are paid in two halves, each an ordinary batch of the protocol above,
  down to the single address the wallet refuses, which is quarantined. The good outputs
  are paid in a few transactions; each refused address costs about 2 log2(n) refusals.
A quarantined account keeps its balance; it is paid again once it resolves to another
address (the operator mapped it in `[accounts]`) or is released (`surplus ledger release`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pool.ledger.errors import PayoutInDoubt, PayoutStillInWallet
from pool.ledger.records import PayoutBatch, QuarantineRow
from pool.ledger.store import LedgerStore
from pool.ledger.wallet import (
    Wallet,
    find_payment,
    refused_address,
    sent_outputs,
    similar_payments,
)

# due accounts -> {account: the address it is paid at, or None when it has none}
Resolve = Callable[[Iterable[str]], Mapping[str, str | None]]

NO_ADDRESS = "no payout address: neither an address of the pool's network nor in [accounts]"


def identity_resolve(accounts: Iterable[str]) -> dict[str, str | None]:
    """Every account is paid at itself (no address book: tests and tools)."""
    return {account: account for account in accounts}


@dataclass(frozen=True, slots=True)
class Reconciled:
    batch_id: int
    txid: str
    how: str  # "found in wallet" | "sent now"


@dataclass(slots=True)
class PayoutReport:
    dry_run: bool
    due: dict[str, int] = field(default_factory=dict)  # what was paid now (or would be)
    unfinished: list[PayoutBatch] = field(default_factory=list)  # seen before reconciling
    reconciled: list[Reconciled] = field(default_factory=list)
    batch: PayoutBatch | None = None  # the last batch sent in this run
    txid: str | None = None
    sent: list[tuple[PayoutBatch, str]] = field(default_factory=list)  # every batch sent
    refused: list[tuple[int, str]] = field(default_factory=list)  # (batch id, wallet said)
    quarantined: dict[str, QuarantineRow] = field(default_factory=dict)  # after the run

    def rows(self) -> list[dict[str, object]]:
        """Plain rows for the CLI table: one per output paid now (or due, dry run)."""
        batch_of: dict[str, PayoutBatch] = {}
        for batch, _ in self.sent:
            for account in batch.outputs:
                batch_of[account] = batch
        txid_of = {batch.id: txid for batch, txid in self.sent}
        rows: list[dict[str, object]] = []
        for account, amount in sorted(self.due.items()):
            paid = batch_of.get(account)
            rows.append({
                "batch": None if paid is None else paid.id, "account": account,
                "amount_sat": amount, "txid": None if paid is None else txid_of[paid.id],
            })  # fmt: skip
        return rows


def locate_in_wallet(store: LedgerStore, wallet: Wallet, batch: PayoutBatch) -> str | None:
    """The txid of the wallet transaction that paid `batch`, or None when the wallet shows
    nothing like it. Raises PayoutInDoubt when a transaction resembles the batch without
    matching it exactly: then neither recording nor resending is safe."""
    sent = sent_outputs(wallet.list_transactions())
    taken = store.recorded_txids()
    wanted = batch.send_outputs()
    txid = find_payment(wanted, sent, taken)
    if txid is None:
        suspects = similar_payments(wanted, sent, taken)
        if suspects:
            raise PayoutInDoubt(batch.id, suspects)
    return txid


def _send(
    store: LedgerStore, wallet: Wallet, batch: PayoutBatch, min_payout: int,
    report: PayoutReport,
) -> str | None:
    """Send a recorded batch and record its txid. When the wallet refuses an address,
    cancel the batch and pay its halves (module doc); returns the txid, or None when the
    batch itself was not sent."""
    try:
        txid = wallet.sendmany(batch.send_outputs())
    except Exception as exc:
        if not refused_address(exc):
            raise  # in doubt: the batch stays `created`, the next run reconciles it
        reason = f"the wallet refused: {exc}"
        report.refused.append((batch.id, reason))
        store.cancel_batch(batch.id)  # it answered with a refusal: nothing was sent
        _split(store, wallet, batch, min_payout, reason, report)
        return None
    store.mark_batch_sent(batch.id, txid)
    report.sent.append((batch, txid))
    return txid


def _split(
    store: LedgerStore, wallet: Wallet, batch: PayoutBatch, min_payout: int, reason: str,
    report: PayoutReport,
) -> None:
    """Pay a refused batch's outputs in two halves by address; quarantine an address the
    wallet refused on its own."""
    addresses = sorted({batch.address_of(account) for account in batch.outputs})
    if len(addresses) == 1:
        for account in batch.outputs:
            store.quarantine(account, batch.address_of(account), reason)
        return
    half = len(addresses) // 2
    for part in (addresses[:half], addresses[half:]):
        wanted = set(part)
        accounts = {a for a in batch.outputs if batch.address_of(a) in wanted}
        sub = store.create_batch(min_payout, batch.addresses, accounts)
        if sub is not None:
            _send(store, wallet, sub, min_payout, report)


def reconcile(
    store: LedgerStore, wallet: Wallet, min_payout: int = 1, report: PayoutReport | None = None
) -> list[Reconciled]:
    """Settle every batch whose send is in doubt: record it if the wallet paid it, send it
    if the wallet never saw it (a refusal then splits it, as any batch)."""
    report = report if report is not None else PayoutReport(dry_run=False)
    done = []
    for batch in store.unfinished_batches():
        txid = locate_in_wallet(store, wallet, batch)
        if txid is not None:
            store.mark_batch_sent(batch.id, txid)
            done.append(Reconciled(batch.id, txid, "found in wallet"))
            continue
        txid = _send(store, wallet, batch, min_payout, report)
        if txid is not None:
            report.sent.remove((batch, txid))  # reported as reconciled, not as new
            done.append(Reconciled(batch.id, txid, "sent now"))
    return done


def payable_addresses(
    store: LedgerStore, due: Iterable[str], resolve: Resolve, *, write: bool
) -> dict[str, str]:
    """{account: address} of the due accounts that may be paid now. An account without
    an address is quarantined (with `write`); one quarantined at the address it still
    resolves to stays out; one that resolves elsewhere now is released (the operator
    mapped it to a new address)."""
    due = list(due)
    quarantined = store.quarantined()
    resolved = resolve(due)
    payable: dict[str, str] = {}
    for account in due:
        address = resolved.get(account)
        held = quarantined.get(account)
        if address is None:
            if write and (held is None or held.address != ""):
                store.quarantine(account, "", NO_ADDRESS)
            continue
        if held is not None:
            if held.address == address:
                continue
            if write:
                store.release([account])
        payable[account] = address
    return payable


def run_payouts(
    store: LedgerStore, wallet: Wallet | None, min_payout: int, dry_run: bool = False,
    resolve: Resolve | None = None,
) -> PayoutReport:
    """Reconcile, then build, record, send and record the due payouts (module doc).

    `resolve` maps accounts to the addresses they are paid at (pool.accounts.AccountBook:
    the pool's network and `[accounts]`); without it every account is its own address.
    With `dry_run` nothing is written or sent: the report shows what would be paid, what
    is quarantined and any batch still in doubt. If `sendmany` raises anything but an
    address refusal, the batch stays `created` and the next run reconciles it (the error
    propagates to the operator)."""
    resolve = resolve or identity_resolve
    if dry_run:
        due = store.due_payouts(min_payout)
        payable = payable_addresses(store, due, resolve, write=False)
        report = PayoutReport(
            dry_run=True, due={a: due[a] for a in payable},
            unfinished=store.unfinished_batches(),
        )
        report.quarantined = store.quarantined()
        for account in set(due) - set(payable):
            report.quarantined.setdefault(account, QuarantineRow(account, "", NO_ADDRESS, 0.0))
        return report
    if wallet is None:
        raise ValueError("paying out needs a wallet (sendmany, list_transactions)")
    report = PayoutReport(dry_run=False, unfinished=store.unfinished_batches())
    report.reconciled = reconcile(store, wallet, min_payout, report)
    payable = payable_addresses(store, store.due_payouts(min_payout), resolve, write=True)
    if payable:
        batch = store.create_batch(min_payout, payable, set(payable))
        if batch is not None:
            _send(store, wallet, batch, min_payout, report)
    for batch, txid in report.sent:
        report.due.update(batch.outputs)
        report.batch, report.txid = batch, txid
    report.quarantined = store.quarantined()
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
