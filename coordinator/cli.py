"""`surplus control --config FILE`: run the coordinator over many fleetd daemons.

    surplus control --config configs/control.toml
    surplus control report --config FILE --from T --to T [--csv | --json] [--output F]

register(parser) is argparse only (the command line loads fast); run(args) imports the
rest. The daemon prints where its API and /metrics listen once they are up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    from plumbing.options import add_log_level

    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="coordinator TOML (see configs/control.toml)"
    )
    add_log_level(parser)
    sub = parser.add_subparsers(dest="control_action", metavar="ACTION")
    r = sub.add_parser("report", help="the regulator's report across sites, per 15 minutes")
    r.add_argument(
        "--config",
        dest="report_config",
        type=Path,
        required=True,
        help="the coordinator's TOML (its sites and audit log)",
    )
    r.add_argument("--from", dest="since", required=True, help="ISO 8601 time or epoch seconds")
    r.add_argument("--to", dest="until", required=True, help="ISO 8601 time or epoch seconds")
    fmt = r.add_mutually_exclusive_group()
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv")
    fmt.add_argument("--json", dest="format", action="store_const", const="json")
    r.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    r.set_defaults(format="csv")


def _fail(message: str) -> int:
    print(f"surplus control: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if getattr(args, "control_action", None) == "report":
        from coordinator.report_cli import report

        return report(args)
    return _daemon(args)


def _daemon(args: argparse.Namespace) -> int:
    from coordinator.config import load
    from coordinator.daemon import ControlDaemon
    from coordinator.state import StateError
    from plumbing import eventloop, logs
    from plumbing.config import ConfigError

    if args.config is None:
        return _fail("--config FILE is required")
    logs.configure(args.log_level, sys.stderr)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        return _fail(str(exc))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with ControlDaemon(cfg) as daemon:
            print(f"surplus control: API on {daemon.url}", flush=True)
            if daemon.metrics.address is not None:
                host, port = daemon.metrics.address
                print(f"surplus control: metrics on http://{host}:{port}/metrics", flush=True)
            await stop.wait()

    try:
        eventloop.run(main())
    except (ConfigError, StateError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen: {exc}")
    return 0
