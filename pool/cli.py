"""`surplus pool` and `surplus ledger`: the operator's commands.

    surplus pool --config configs/pool-mainnet.toml
    surplus ledger balances --config configs/pool-mainnet.toml
    surplus ledger blocks   --config configs/pool-mainnet.toml
    surplus ledger payouts  [--dry-run] --config configs/pool-mainnet.toml
    surplus ledger release  ACCOUNT... | --all --config configs/pool-mainnet.toml

`surplus pool` prints one line `surplus pool: stratum listening on HOST:PORT ...` once
miners can connect (scripts and tests wait for it), then the URLs of /metrics and of the
stats API when the config serves them, runs until SIGINT/SIGTERM, then drains: miners
get `client.reconnect`, queued shares are committed.
The ledger commands read the `[ledger]` (and for payouts the `[wallet]` and
`[accounts]`) sections of the same file and print rich tables; amounts are satoshis.
Accounts a payout skips (no payout address, or one the wallet refused) are listed as
quarantined; `release` lets the next payouts try them again. Every name in a table came
from a miner, so it is shown as plain, escaped text.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plumbing import logs
from plumbing.escape import printable
from plumbing.options import add_log_level
from plumbing.redact import redact

if TYPE_CHECKING:  # pool.config imports pydantic: loaded by run(), not by --help
    from pool.config import PoolConfig


# ------------------------------------------------------------------------ surplus pool


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="pool TOML file")
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    _logging(args.log_level)
    config = _load(args.config)
    if config is None:
        return 2
    from hashing import KernelError
    from plumbing import eventloop
    from pool.app_node import PoolStartupError
    from pool.serve import serve

    try:
        if config.process_count > 1:  # a supervisor and its workers (pool.cluster)
            from pool.cluster.supervisor import supervise

            eventloop.run(supervise(args.config.resolve(), config, args.log_level))
        else:
            eventloop.run(serve(config))  # uvloop where installed
    except PoolStartupError as exc:
        print(f"surplus pool: {args.config}: cannot start: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KernelError as exc:  # SURPLUS_HASH_KERNEL names a kernel this CPU cannot run
        print(f"surplus pool: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


# ------------------------------------------------------------------------ surplus ledger


def register_ledger(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", required=True, type=Path, help="pool TOML file")
    sub = parser.add_subparsers(dest="ledger_command", metavar="WHAT", required=True)
    sub.add_parser("balances", parents=[common], help="balances per account (satoshis)")
    blocks = sub.add_parser("blocks", parents=[common], help="blocks found and their status")
    blocks.add_argument("--limit", type=int, default=100, help="newest N blocks")
    payouts = sub.add_parser(
        "payouts", parents=[common], help="pay what is due through the [wallet] (exactly once)"
    )
    payouts.add_argument(
        "--dry-run", action="store_true", help="show the batch that would be paid; send nothing"
    )
    release = sub.add_parser(
        "release", parents=[common], help="let quarantined accounts be paid again"
    )
    release.add_argument("accounts", nargs="*", metavar="ACCOUNT")
    release.add_argument("--all", action="store_true", help="every quarantined account")


def run_ledger(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    if config.ledger is None:
        print(f"surplus ledger: {args.config}: ledger: no [ledger] section", file=sys.stderr)
        return 2
    from rich.console import Console

    from pool.ledger import LedgerError, commands
    from pool.node.base import NodeError

    console = Console()
    try:
        if args.ledger_command == "balances":
            console.print(balances_table(commands.balances(config.ledger)))
        elif args.ledger_command == "blocks":
            console.print(blocks_table(commands.blocks(config.ledger, limit=args.limit)))
        elif args.ledger_command == "release":
            if not args.accounts and not args.all:
                print("surplus ledger release: name the ACCOUNTs, or --all", file=sys.stderr)
                return 2
            count = commands.release(config.ledger, None if args.all else args.accounts)
            print(f"surplus ledger: released {count} quarantined account(s)")
        else:
            wallet = None
            if not args.dry_run and config.payout_interval > 0:
                print(f"surplus ledger: {args.config}: payout_interval: the pool's ledger "
                      f"leader pays every {config.payout_interval:g} s; two payers at once "
                      "could pay twice (set it to 0 to pay by hand)", file=sys.stderr)
                return 2
            if not args.dry_run:
                if config.wallet is None:
                    print(
                        f"surplus ledger: {args.config}: wallet: paying out needs a [wallet] "
                        "section (or use --dry-run)", file=sys.stderr,
                    )
                    return 2
                wallet = _wallet(config)
            report = commands.payouts(config.ledger, wallet, dry_run=args.dry_run,
                                      resolve=config.account_book().payout_addresses)
            console.print(payouts_table(report))
    except (LedgerError, NodeError) as exc:  # the wallet's error too: no traceback
        print(f"surplus ledger: {printable(redact(str(exc)), 2000)}", file=sys.stderr)
        return 1
    return 0


def _wallet(config: PoolConfig) -> Any:
    from pool.node.wallet import WalletClient

    assert config.wallet is not None
    w = config.wallet
    return WalletClient(w.url, flavor=w.flavor, wallet_id=w.wallet_id, timeout=w.timeout)


# ------------------------------------------------------------------------ tables


def _sat(amount: int) -> str:
    return f"{amount:,}"


def _text(value: object, limit: int = 128) -> Any:
    """A string from outside (an account, a worker, a wallet's answer) as a table cell:
    plain text, never rich markup, with unprintable characters escaped."""
    from rich.text import Text

    return Text(printable(value, limit))


def balances_table(rows: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title="balances (satoshis)")
    table.add_column("account")
    for name in ("immature", "payable", "pending", "paid"):
        table.add_column(name, justify="right")
    totals = [0, 0, 0, 0]
    for row in rows:
        values = [row.immature, row.payable, row.pending, row.paid]
        totals = [t + v for t, v in zip(totals, values, strict=True)]
        table.add_row(_text(row.account), *map(_sat, values))
    if rows:
        table.add_section()
        table.add_row("total", *map(_sat, totals))
    return table


def blocks_table(rows: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title="blocks found")
    table.add_column("height", justify="right")
    table.add_column("hash")
    table.add_column("status")
    table.add_column("reward", justify="right")
    table.add_column("credited", justify="right")
    table.add_column("scheme")
    table.add_column("worker")
    table.add_column("found (UTC)")
    for row in rows:
        table.add_row(
            str(row.height), _text(row.hash), row.status.value, _sat(row.reward),
            _sat(row.credited), row.scheme.value, _text(row.worker),
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.found_at)),
        )
    return table


def payouts_table(report: Any) -> Any:
    from rich.table import Table
    from rich.text import Text

    if report.dry_run:
        title = "payouts due (dry run: nothing sent)"
    elif not report.sent:
        title = "payouts: nothing sent"
    elif len(report.sent) == 1:
        title = f"payout batch {report.batch.id} sent: {printable(report.txid, 80)}"
    else:
        title = f"payouts sent in {len(report.sent)} batches"
    table = Table(title=Text(title))
    table.add_column("account")
    table.add_column("amount (sat)", justify="right")
    table.add_column("batch / status")
    for row in report.rows():
        where = "" if row["batch"] is None else f"batch {row['batch']} {printable(row['txid'])}"
        table.add_row(_text(row["account"]), _sat(int(row["amount_sat"])), Text(where))
    for batch in report.unfinished:
        table.add_row(Text(f"batch {batch.id} unfinished", style="yellow"), _sat(batch.total),
                      "")  # fmt: skip
    for item in report.reconciled:
        table.add_row(f"batch {item.batch_id} reconciled ({item.how})", "", _text(item.txid))
    for batch_id, reason in report.refused:
        table.add_row(Text(f"batch {batch_id} refused, split", style="yellow"), "",
                      _text(reason, 200))  # fmt: skip
    for row in report.quarantined.values():
        table.add_row(_text(row.account), "",
                      Text(f"quarantined: {printable(row.reason, 200)}", style="red"))
    return table


# ------------------------------------------------------------------------ shared


def _load(path: Path) -> PoolConfig | None:
    from pool.config import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        print(f"surplus: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def _logging(level: str) -> None:
    """One record per line, outside strings escaped (plumbing.logs)."""
    logs.configure(level, sys.stderr)
