"""Payouts never block on one account, on both backends.

An account with no payout address is quarantined before any batch; an address the
wallet refuses (JSON-RPC -5, nothing sent) cancels its batch, the outputs are paid in
halves down to the refused address, which is quarantined. Every other account is paid
exactly once, also when the payout process is killed at any send of that sequence; a
quarantined account keeps its balance and is paid once it resolves elsewhere or is
released. (The same against bcoin's real wallet: test_bcoin.py.)"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from pool.ledger import LedgerStore, PayoutStatus, commands, open_store
from pool.ledger.payouts import run_payouts

from .conftest import MakeConfig, OpenStore
from .factories import FEE_ACCOUNT, found, share
from .test_payouts import MIN_PAYOUT, run_child
from .wallet_double import FileWalletDouble

PAYEES = ("a", "b", "c", "d")


def fund(store: LedgerStore, *accounts: str) -> dict[str, int]:
    """A confirmed PROP block shared equally by `accounts` (plus the fee account)."""
    ids = store.insert_shares([share(account, 1) for account in accounts])
    block = store.record_block(found(ids[-1], reward=4_000_000, network_difficulty=10))
    store.apply_node_view(block, block.hash, block.height + 99)
    return {r.account: r.payable for r in store.balances() if r.payable >= MIN_PAYOUT}


def nowhere(accounts):
    return {a: None if a.startswith("nowhere") else a for a in accounts}


def paid_per_address(wallet: FileWalletDouble) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for outputs in wallet.paid().values():
        for address, sat in outputs.items():
            out.setdefault(address, []).append(sat)
    return out


def test_an_account_without_an_address_waits_and_the_rest_are_paid(
    open_ledger_store: OpenStore, tmp_path: Path
) -> None:
    from pool.ledger.payouts import NO_ADDRESS

    store = open_ledger_store(scheme="prop", fee_percent=1)
    due = fund(store, "a", "nowhere[/x]", "b")
    wallet = FileWalletDouble(tmp_path / "w.jsonl")
    preview = run_payouts(store, None, MIN_PAYOUT, dry_run=True, resolve=nowhere)
    assert set(preview.due) == {"a", "b", FEE_ACCOUNT} and "nowhere[/x]" in preview.quarantined
    assert store.quarantined() == {}  # a dry run writes nothing
    report = run_payouts(store, wallet, MIN_PAYOUT, resolve=nowhere)
    assert report.txid is not None and set(report.due) == {"a", "b", FEE_ACCOUNT}
    assert report.quarantined["nowhere[/x]"].reason == NO_ADDRESS
    assert list(wallet.paid().values()) == [{a: due[a] for a in ("a", "b", FEE_ACCOUNT)}]
    again = run_payouts(store, wallet, MIN_PAYOUT, resolve=nowhere)
    assert again.sent == [] and list(again.quarantined) == ["nowhere[/x]"]
    # the operator maps the name to an address: released and paid, once
    mapped = run_payouts(store, wallet, MIN_PAYOUT, resolve=lambda accs: {
        a: "addr-x" if a == "nowhere[/x]" else a for a in accs})  # fmt: skip
    assert mapped.due == {"nowhere[/x]": due["nowhere[/x]"]} and mapped.quarantined == {}
    assert paid_per_address(wallet)["addr-x"] == [due["nowhere[/x]"]]
    assert store.unfinished_batches() == []


def test_a_refused_address_is_isolated_and_every_other_account_paid_once(
    open_ledger_store: OpenStore, tmp_path: Path
) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=1)
    due = fund(store, *PAYEES)
    wallet = FileWalletDouble(tmp_path / "w.jsonl", refuse=("c",))
    report = run_payouts(store, wallet, MIN_PAYOUT)
    assert list(report.quarantined) == ["c"] and "refused" in report.quarantined["c"].reason
    assert len(report.refused) >= 2 and report.due == {a: due[a] for a in due if a != "c"}
    paid = paid_per_address(wallet)
    assert paid == {a: [due[a]] for a in due if a != "c"}  # once each, exact amounts
    assert len(wallet.paid()) < len(due)  # halves, not one transaction per account
    statuses = {b.status for b in store.batches()}
    assert statuses == {PayoutStatus.SENT, PayoutStatus.CANCELLED}
    rows = {r.account: (r.payable, r.pending, r.paid) for r in store.balances()}
    assert rows["c"] == (due["c"], 0, 0)  # kept, not lost
    assert run_payouts(store, wallet, MIN_PAYOUT).sent == []  # c stays out
    assert store.release(["c"]) == 1
    wallet.refuse.clear()  # the node takes it now (e.g. the operator fixed the wallet)
    assert run_payouts(store, wallet, MIN_PAYOUT).due == {"c": due["c"]}


@pytest.mark.parametrize(
    ("crash", "call"),
    [("before_send", 1), ("after_send", 2), ("before_send", 4)],
)  # 1: the whole batch (refused) 2: {a, b} sent  4: {c} (refused alone)
def test_killed_during_the_split_still_pays_each_account_exactly_once(
    make_config: MakeConfig, tmp_path: Path, crash: str, call: int
) -> None:
    config = make_config(scheme="prop", fee_percent=1, min_payout_sat=MIN_PAYOUT)
    store = open_store(config)
    try:
        due = fund(store, *PAYEES, "nowhere")
        wallet_file = tmp_path / "wallet.jsonl"
        refuse = json.dumps(["c"])
        killed = run_child(config.model_dump_json(), wallet_file, crash, refuse, str(call))
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        done = run_child(config.model_dump_json(), wallet_file, "none", refuse)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["quarantined"] == ["c", "nowhere"]
        paid = paid_per_address(FileWalletDouble(wallet_file))
        assert paid == {a: [due[a]] for a in due if a not in ("c", "nowhere")}
        assert store.unfinished_batches() == []
        rows = {r.account: (r.payable, r.pending) for r in store.balances()}
        assert rows["c"] == (due["c"], 0) and rows["nowhere"] == (due["nowhere"], 0)
        again = commands.payouts(config, FileWalletDouble(wallet_file, refuse=("c",)),
                                 resolve=nowhere)  # fmt: skip
        assert again.sent == [] and again.reconciled == []
    finally:
        store.close()


def test_a_payout_below_the_dust_limit_cannot_be_configured() -> None:
    """A wallet refuses a dust output, and with it the batch, for everybody: the minimum
    payout is at least the dust limit."""
    from pydantic import ValidationError

    from pool.ledger import LedgerConfig

    with pytest.raises(ValidationError, match="greater than or equal to 546"):
        LedgerConfig(fee_account=FEE_ACCOUNT, min_payout_sat=100)
    assert LedgerConfig(fee_account=FEE_ACCOUNT, min_payout_sat=546).min_payout_sat == 546
