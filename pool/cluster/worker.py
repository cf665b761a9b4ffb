"""One worker process of a pool cluster: `python -m pool.cluster.worker`, started by
pool.cluster.supervisor (never by hand).

    python -m pool.cluster.worker --config F --index I --count N --port P [--log-level L]
        [--ledger-socket PATH]

It loads the same file the supervisor did, runs `pool.serve.serve` as process I of N on
the shared port P (SO_REUSEPORT), prints its ready line on stdout for the supervisor, and
logs on stderr with `[process I]` in every record. It asks the kernel for SIGTERM when
the supervisor dies, so no worker outlives it holding the port. With `--ledger-socket`
(a SQLite ledger) its writes go to the cluster's ledger writer there
(pool.ledger.remote).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from plumbing import logs
from plumbing.redact import redact

PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Linux: deliver `sig` to this process when its parent (the supervisor) exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's stop still reaches us
        pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pool.cluster.worker")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--index", required=True, type=int)
    parser.add_argument("--count", required=True, type=int)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--tls-port", type=int, default=None)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--ledger-socket", type=Path, default=None)
    return parser.parse_args(argv)


def supervised(label: str, log_level: str) -> bool:
    """Set up a process the supervisor started: SIGTERM when the supervisor dies, log
    records on stderr tagged `[label]`. False when the supervisor is gone already."""
    supervisor = os.getppid()
    parent_death_signal()
    if os.getppid() != supervisor:  # it died before the kernel was asked to tell us
        return False
    logs.configure(log_level, sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logs.EscapingFormatter(
            logs.FORMAT.replace("%(name)s", f"[{label}] %(name)s")
        ))
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not supervised(f"process {args.index}", args.log_level):
        return 1
    from hashing import KernelError
    from plumbing import eventloop
    from pool.app_node import PoolStartupError
    from pool.config import ConfigError, load
    from pool.serve import serve
    from pool.stratum.slots import ProcessSlot

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"surplus pool process {args.index}: invalid configuration:\n{exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    if config.node_id is None or not 0 <= args.index < args.count:
        print(f"surplus pool process {args.index}: not a process of this cluster",
              file=sys.stderr)  # fmt: skip
        return 2
    slot = ProcessSlot(config.node_id, args.index, args.count, args.port, args.tls_port,
                       args.ledger_socket)
    try:
        eventloop.run(serve(config, slot=slot))
    except (PoolStartupError, KernelError) as exc:
        print(f"surplus pool process {args.index}: cannot start: {redact(str(exc))}",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
