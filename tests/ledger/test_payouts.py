"""Exactly-once payouts: a real child process is killed with SIGKILL before the send,
after the send but before it is recorded, and after it is recorded; a restarted run
reconciles from the wallet's own list and every account is paid exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pool.ledger import LedgerStore, PayoutStatus, UnfinishedPayout, commands, open_store
from pool.ledger.errors import PayoutInDoubt, PayoutStillInWallet
from pool.ledger.payouts import cancel_batch, run_payouts

from .conftest import MakeConfig, OpenStore
from .factories import FEE_ACCOUNT, found, share
from .wallet_double import FileWalletDouble

CHILD = Path(__file__).with_name("payout_child.py")
REPO = Path(__file__).resolve().parents[2]
MIN_PAYOUT = 10_000


def fund(store: LedgerStore) -> dict[str, int]:
    """A confirmed PROP block of 1,000,000 sat, 1 % fee; returns what each account is due.
    a 3, b 1, tiny 0.01 of difficulty: pot 990,000 -> a 742,314 (floor of 742,314.2...),
    b 247,438, tiny 2,474 (below the threshold), remainder and fee to the fee account."""
    ids = store.insert_shares([share("a", 3), share("b", 1), share("tiny", "0.01")])
    block = store.record_block(found(ids[-1], reward=1_000_000, network_difficulty=10))
    assert store.apply_node_view(block, block.hash, block.height + 99).value == "confirmed"
    pot = 990_000
    due = {"a": pot * 300 // 401, "b": pot * 100 // 401}
    tiny = pot * 1 // 401
    due[FEE_ACCOUNT] = 1_000_000 - due["a"] - due["b"] - tiny
    return due


def run_child(
    config_json: str, wallet: Path, crash: str, *more: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHILD), config_json, str(wallet), crash, *more],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("crash", ["before_send", "after_send", "after_record"])
def test_killed_at_each_step_pays_exactly_once(
    make_config: MakeConfig, tmp_path: Path, crash: str
) -> None:
    config = make_config(scheme="prop", fee_percent=1, min_payout_sat=MIN_PAYOUT)
    store = open_store(config)
    try:
        due = fund(store)
        wallet_file = tmp_path / "wallet.jsonl"
        wallet = FileWalletDouble(wallet_file)

        killed = run_child(config.model_dump_json(), wallet_file, crash)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        batches = store.batches()
        assert len(batches) == 1 and batches[0].outputs == due  # recorded before sending
        sent_before_restart = wallet.paid()
        if crash == "before_send":
            assert sent_before_restart == {} and batches[0].status is PayoutStatus.CREATED
        elif crash == "after_send":
            assert list(sent_before_restart.values()) == [due]
            assert batches[0].status is PayoutStatus.CREATED and batches[0].txid is None
        else:
            assert list(sent_before_restart.values()) == [due]
            assert batches[0].status is PayoutStatus.SENT

        # the restarted `surplus ledger payouts` (a fresh connection, in this process)
        report = commands.payouts(config, FileWalletDouble(wallet_file))
        assert report.batch is None  # nothing new was due
        expected_how = {"before_send": "sent now", "after_send": "found in wallet"}
        if crash in expected_how:
            assert [r.how for r in report.reconciled] == [expected_how[crash]]
        else:
            assert report.reconciled == []

        # exactly one payment per account, exact amounts
        paid = wallet.paid()
        assert len(paid) == 1
        (txid, outputs), = paid.items()
        assert outputs == due
        (batch,) = store.batches()
        assert (batch.status, batch.txid) == (PayoutStatus.SENT, txid)
        rows = {r.account: (r.payable, r.pending, r.paid) for r in store.balances()}
        for account, amount in due.items():
            assert rows[account] == (0, 0, amount)
        assert rows["tiny"][0] > 0 and rows["tiny"][2] == 0  # below the threshold

        again = run_child(config.model_dump_json(), wallet_file, "none")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == {"batch": None, "txid": None, "reconciled": [],
                                            "quarantined": []}  # fmt: skip
        assert wallet.paid() == paid
    finally:
        store.close()


def test_dry_run_changes_nothing(open_ledger_store: OpenStore, tmp_path: Path) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=1)
    due = fund(store)
    before = store.balances()
    report = run_payouts(store, None, MIN_PAYOUT, dry_run=True)
    assert report.dry_run and report.due == due and report.batch is None
    assert [r["account"] for r in report.rows()] == sorted(due)
    assert store.balances() == before and store.batches() == []


def test_failed_send_stays_in_doubt_then_is_resent_once(
    open_ledger_store: OpenStore, tmp_path: Path
) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=1)
    due = fund(store)
    wallet = FileWalletDouble(tmp_path / "w.jsonl", fail_times=1)
    with pytest.raises(RuntimeError, match="insufficient funds"):
        run_payouts(store, wallet, MIN_PAYOUT)
    (batch,) = store.unfinished_batches()
    assert batch.status is PayoutStatus.CREATED and batch.outputs == due
    with pytest.raises(UnfinishedPayout):
        store.create_batch(MIN_PAYOUT)
    report = run_payouts(store, wallet, MIN_PAYOUT)
    assert [r.how for r in report.reconciled] == ["sent now"] and report.batch is None
    assert list(wallet.paid().values()) == [due]
    assert store.batches()[0].status is PayoutStatus.SENT


def test_cancel_only_when_the_wallet_never_paid(
    open_ledger_store: OpenStore, tmp_path: Path
) -> None:
    store = open_ledger_store(scheme="prop", fee_percent=1)
    due = fund(store)
    wallet = FileWalletDouble(tmp_path / "w.jsonl")
    batch = store.create_batch(MIN_PAYOUT)
    assert batch is not None
    assert {r.account: r.pending for r in store.balances()}["a"] == due["a"]
    assert cancel_batch(store, wallet, batch.id)
    rows = {r.account: (r.payable, r.pending) for r in store.balances()}
    assert rows["a"] == (due["a"], 0)
    # a batch the wallet did pay can never be cancelled
    second = store.create_batch(MIN_PAYOUT)
    assert second is not None
    wallet.sendmany(dict(second.outputs))
    with pytest.raises(PayoutStillInWallet):
        cancel_batch(store, wallet, second.id)



def test_summary_only_wallet_never_gets_a_second_send(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    """A wallet that lists one summary row per transaction (bcoin's listtransactions)
    cannot prove which batch it paid: reconciling stops with PayoutInDoubt instead of
    resending, and the operator resolves it with the txid."""
    config = make_config(scheme="prop", fee_percent=1, min_payout_sat=MIN_PAYOUT)
    store = open_store(config)
    try:
        due = fund(store)
        wallet_file = tmp_path / "wallet.jsonl"
        killed = run_child(config.model_dump_json(), wallet_file, "after_send")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        summary = FileWalletDouble(wallet_file, summary=True)
        with pytest.raises(PayoutInDoubt) as doubt:
            commands.payouts(config, summary)
        (txid,) = FileWalletDouble(wallet_file).paid()
        assert doubt.value.suspects == [txid]
        assert len(FileWalletDouble(wallet_file).paid()) == 1  # nothing was resent
        assert commands.resolve_batch(config, doubt.value.batch_id, txid)
        assert commands.payouts(config, summary).reconciled == []
        rows = {r.account: (r.pending, r.paid) for r in store.balances()}
        assert all(rows[a] == (0, amount) for a, amount in due.items())
    finally:
        store.close()
