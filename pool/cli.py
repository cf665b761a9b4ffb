"""`surplus pool` and `surplus ledger`: the operator's commands.

    surplus pool --config configs/pool-mainnet.toml
    surplus ledger balances --config configs/pool-mainnet.toml
    surplus ledger blocks   --config configs/pool-mainnet.toml
    surplus ledger payouts  [--dry-run] --config configs/pool-mainnet.toml

`surplus pool` prints one line `surplus pool: stratum listening on HOST:PORT ...` once
miners can connect (scripts and tests wait for it), then the URLs of /metrics and of the
stats API when the config serves them, runs until SIGINT/SIGTERM, then drains: miners
get `client.reconnect`, queued shares are committed.
The ledger commands read the `[ledger]` (and for payouts the `[wallet]`) section of the
same file and print rich tables; amounts are satoshis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from plumbing import logs
from plumbing.redact import redact
from pool.config import ConfigError, PoolConfig, load

LOG_LEVELS = ("debug", "info", "warning", "error")


# ------------------------------------------------------------------------ surplus pool


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="pool TOML file")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")


def run(args: argparse.Namespace) -> int:
    _logging(args.log_level)
    config = _load(args.config)
    if config is None:
        return 2
    from pool.app_node import PoolStartupError
    from pool.stratum import eventloop

    try:
        eventloop.run(serve(config))  # uvloop where installed
    except PoolStartupError as exc:
        print(f"surplus pool: {args.config}: cannot start: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def serve(config: PoolConfig, stop: asyncio.Event | None = None) -> None:
    """Run a pool until `stop` is set (or SIGINT/SIGTERM), then shut it down cleanly."""
    from pool.app import PoolApp

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with PoolApp(config) as app:
        host, port = app.stratum_address
        print(
            f"surplus pool: stratum listening on {host}:{port} "
            f"({config.mode} mode, {config.network}, "
            f"{'embedded devnet' if config.devnet else 'node'}, mining height {app.stats.height})",
            flush=True,
        )
        if app.metrics_url is not None:
            print(f"surplus pool: metrics on {app.metrics_url}", flush=True)
        if app.stats_url is not None:
            print(f"surplus pool: stats API on {app.stats_url}/api/v1/pool "
                  f"(OpenAPI: {app.stats_url}/openapi.json)", flush=True)  # fmt: skip
        stopper = asyncio.ensure_future(stop.wait())
        watcher = asyncio.ensure_future(app.wait_closed())
        await asyncio.wait({stopper, watcher}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopper, watcher):
            task.cancel()
        print("surplus pool: shutting down (miners are told to reconnect)", flush=True)


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


def run_ledger(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    if config.ledger is None:
        print(f"surplus ledger: {args.config}: ledger: no [ledger] section", file=sys.stderr)
        return 2
    from rich.console import Console

    from pool.ledger import LedgerError, commands

    console = Console()
    try:
        if args.ledger_command == "balances":
            console.print(balances_table(commands.balances(config.ledger)))
        elif args.ledger_command == "blocks":
            console.print(blocks_table(commands.blocks(config.ledger, limit=args.limit)))
        else:
            wallet = None
            if not args.dry_run:
                if config.wallet is None:
                    print(
                        f"surplus ledger: {args.config}: wallet: paying out needs a [wallet] "
                        "section (or use --dry-run)", file=sys.stderr,
                    )
                    return 2
                wallet = _wallet(config)
            report = commands.payouts(config.ledger, wallet, dry_run=args.dry_run)
            console.print(payouts_table(report))
    except LedgerError as exc:
        print(f"surplus ledger: {exc}", file=sys.stderr)
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
        table.add_row(row.account, *map(_sat, values))
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
            str(row.height), row.hash, row.status.value, _sat(row.reward), _sat(row.credited),
            row.scheme.value, row.worker,
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.found_at)),
        )
    return table


def payouts_table(report: Any) -> Any:
    from rich.table import Table

    if report.dry_run:
        title = "payouts due (dry run: nothing sent)"
    elif report.batch is None:
        title = "payouts: nothing due"
    else:
        title = f"payout batch {report.batch.id} sent: {report.txid}"
    table = Table(title=title)
    table.add_column("account")
    table.add_column("amount (sat)", justify="right")
    for row in report.rows():
        table.add_row(str(row["account"]), _sat(int(row["amount_sat"])))
    for batch in report.unfinished:
        table.add_row(f"[yellow]batch {batch.id} unfinished[/yellow]", _sat(batch.total))
    for item in report.reconciled:
        table.add_row(f"batch {item.batch_id} reconciled ({item.how})", item.txid)
    return table


# ------------------------------------------------------------------------ shared


def _load(path: Path) -> PoolConfig | None:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"surplus: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def _logging(level: str) -> None:
    """One record per line, outside strings escaped (plumbing.logs)."""
    logs.configure(level, sys.stderr)
