"""The ledger writer of a SQLite cluster: `python -m pool.cluster.ledger_process`, started
(and restarted) by pool.cluster.supervisor, never by hand.

    python -m pool.cluster.ledger_process --config F --socket PATH [--log-level L]

It opens the SQLite ledger (migrating it first, before any pool process starts), serves
the pool processes' writes on the Unix socket PATH (pool.ledger.writer_server: one group
committer for the shares of every process, an answer only after the commit) and leads
the ledger: it follows found blocks to maturity and pays (pool.ledger_duties), through a
node connection of its own. It prints its ready line on stdout once it listens, logs on
stderr with `[ledger writer]` in every record, and asks the kernel for SIGTERM when the
supervisor dies. On SIGTERM it stops accepting, lets the requests in progress commit and
be answered, and closes the ledger. SIGINT (a Ctrl-C at the terminal reaches every
process of the group) is ignored: the supervisor stops it after the workers drained.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from plumbing.redact import redact

READY = "surplus pool ledger writer: ready on"
log = logging.getLogger("pool.cluster")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pool.cluster.ledger_process")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def run(config_path: Path, socket_path: Path) -> int:
    from pool.app_node import build_node
    from pool.config import ConfigError, load
    from pool.ledger.ledger import Ledger
    from pool.ledger.writer_server import WriterServer
    from pool.ledger_duties import LedgerDuties
    from pool.node.rpc import RpcNode

    try:
        config = load(config_path)
    except ConfigError as exc:
        print(f"surplus pool ledger writer: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if config.ledger is None or config.ledger.backend != "sqlite":
        print("surplus pool ledger writer: the config has no SQLite ledger", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C reaches the whole process group: the workers drain through this process,
    # and the supervisor sends SIGTERM once they are done.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    try:
        ledger = await Ledger.open(config.ledger)
    except Exception as exc:
        print(f"surplus pool ledger writer: cannot open the ledger {config.ledger.path}: "
              f"{type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)  # fmt: skip
        return 1
    server = WriterServer(ledger, socket_path)
    node = build_node(config)
    duties = LedgerDuties(config, ledger, node)
    leading: asyncio.Task[None] | None = None
    try:
        await server.start()
        print(f"{READY} {socket_path}, pid {os.getpid()}, ledger {config.ledger.path}",
              flush=True)  # fmt: skip

        async def lead() -> bool:
            return True  # the file's one writer leads it

        leading = loop.create_task(duties.run(lead), name="ledger-duties")
        await stop.wait()
        log.info("ledger writer stopping: finishing the requests in progress")
    finally:
        if leading is not None:
            leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leading
        await server.close()
        await ledger.close()
        await duties.close()
        if isinstance(node, RpcNode):
            await node.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pool.cluster.worker import supervised

    if not supervised("ledger writer", args.log_level):
        return 1
    from plumbing import eventloop

    try:
        return eventloop.run(run(args.config, args.socket))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
