"""The operator's ledger commands show every name a miner chose as plain, escaped text:
a worker or account named like rich markup (`[/x]`) once crashed `surplus ledger
balances`, `blocks` and `payouts --dry-run` with a MarkupError; one carrying a terminal
escape (a row an older release stored) would have reached the operator's terminal raw."""

from __future__ import annotations

import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest

from pool.ledger import BlockStatus, FoundBlock, LedgerConfig, open_store
from pool.ledger.records import Share
from surplus.cli import main as surplus_main

PAYOUT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ESCAPE = "evil\x1b[2J\x1b[31m"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")  # rich tables unwrapped
    ledger = tmp_path / "ledger.sqlite3"
    store = open_store(LedgerConfig(path=ledger, scheme="prop", fee_account=PAYOUT))
    try:
        ids = store.insert_shares([Share("[/x]", "[/x].[bold]rig", Fraction(1), "1a", 5, 1.0),
                                   Share("[red]", "[red].rig", Fraction(1), "1a", 5, 1.0)])
        block = store.record_block(FoundBlock(
            height=5, hash="ab" * 32, reward=2_000_000, share_id=ids[-1], account="[/x]",
            worker="[/x].[bold]rig", network_difficulty=Fraction(1),
        ))  # fmt: skip
        store.set_block_status(block.id, BlockStatus.CONFIRMED)
    finally:
        store.close()
    with sqlite3.connect(ledger) as db:  # what an older release let in
        db.execute("INSERT INTO balances (account, payable) VALUES (?, 5000000)", (ESCAPE,))
    path = tmp_path / "pool.toml"
    path.write_text(f'mode = "pool"\nnetwork = "regtest"\npayout_address = "{PAYOUT}"\n'
                    f'[node]\ndevnet = true\n[ledger]\npath = "{ledger}"\nscheme = "prop"\n'
                    "min_payout_sat = 1000\n")  # fmt: skip
    return path


@pytest.mark.parametrize(
    "command",
    [["balances"], ["blocks"], ["payouts", "--dry-run"]],
)
def test_ledger_commands_show_hostile_names_as_text(
    config_file: Path, command: list[str], capsys
) -> None:
    assert surplus_main(["ledger", *command, "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    if command[0] == "blocks":
        assert "[/x].[bold]rig" in out
    else:
        assert "[/x]" in out and "[red]" in out and "evil\\x1b[2J\\x1b[31m" in out


def test_payouts_lists_what_it_cannot_pay_and_release_lets_it_try_again(
    config_file: Path, capsys
) -> None:
    """Neither `[/x]`, `[red]` nor the escape are addresses of the network: the dry run
    shows them quarantined; a real run (no wallet section here) refuses before paying."""
    assert surplus_main(["ledger", "payouts", "--dry-run", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.count("quarantined") >= 3 and PAYOUT[:12] in out
    config = LedgerConfig(path=Path(str(config_file).replace("pool.toml", "ledger.sqlite3")),
                          scheme="prop", fee_account=PAYOUT)  # fmt: skip
    store = open_store(config)
    try:
        store.quarantine("[/x]", "", "test")
    finally:
        store.close()
    assert surplus_main(["ledger", "release", "--config", str(config_file)]) == 2
    assert surplus_main(["ledger", "release", "[/x]", "--config", str(config_file)]) == 0
    assert "released 1 quarantined account" in capsys.readouterr().out


def test_payouts_with_the_wallet_down_say_so_without_a_traceback(
    config_file: Path, capsys
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config_file.write_text(config_file.read_text() + (
        f'[wallet]\nurl = "http://u:hunter2@127.0.0.1:{port}/"\ntimeout = 2\n'))  # fmt: skip
    assert surplus_main(["ledger", "payouts", "--config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("surplus ledger: ") and "hunter2" not in err
