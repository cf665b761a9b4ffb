"""`surplus fleetd ...`: run the daemon, discover rigs, write the compliance report.

    surplus fleetd --config FILE
    surplus fleetd discover 10.0.0.0/24 [--concurrency N] [--timeout S]
    surplus fleetd report --site S --from T --to T [--csv | --json] [--config FILE | --audit PATH]

register(parser) adds the arguments to the `fleetd` subparser; run(args) carries them out
and returns the exit status (2 for bad input, with a message naming what was wrong). The
daemon prints where its API and /metrics listen once every part is up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetd.daemon import Fleetd


def register(parser: argparse.ArgumentParser) -> None:
    from plumbing.options import add_log_level

    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="fleetd TOML (see configs/fleetd-site.toml); required to run "
                        "the daemon")  # fmt: skip
    add_log_level(parser)
    sub = parser.add_subparsers(dest="fleetd_action", metavar="ACTION")
    d = sub.add_parser("discover", help="scan a network with pyasic and list the rigs found")
    d.add_argument("cidr", help="network to scan, e.g. 10.0.0.0/24")
    d.add_argument("--concurrency", type=int, default=128)
    d.add_argument("--timeout", type=float, default=5.0, help="seconds per host")
    r = sub.add_parser("report", help="compliance report: per 15 minutes, power vs allotment")
    r.add_argument("--site", required=True)
    r.add_argument("--from", dest="since", required=True, help="ISO 8601 time or epoch seconds")
    r.add_argument("--to", dest="until", required=True, help="ISO 8601 time or epoch seconds")
    fmt = r.add_mutually_exclusive_group()
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv")
    fmt.add_argument("--json", dest="format", action="store_const", const="json")
    r.add_argument("--config", dest="report_config", type=Path,
                   help="fleetd TOML whose [audit] path holds the records")  # fmt: skip
    r.add_argument("--audit", type=Path, help="the audit log (instead of --config)")
    r.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    r.set_defaults(format="csv")
    # after the sub-parsers took their prog from it: --config shown as required
    parser.usage = ("%(prog)s --config FILE [--log-level LEVEL]\n"
                    "       %(prog)s discover CIDR [options]\n"
                    "       %(prog)s report --site SITE --from T --to T [options]")  # fmt: skip


def configure_logging(level: str) -> None:
    """The root logger at `level`, with one handler on stderr, whatever a library did when
    it was imported: pyasic calls logging.basicConfig and sets the root logger to WARNING
    at import, which made a later basicConfig (a no-op once a handler exists) ignore
    --log-level. Call it after the imports."""
    from plumbing import logs

    root = logging.getLogger()
    for handler in list(root.handlers):  # pyasic's basicConfig handler among them
        root.removeHandler(handler)
    logs.configure(level, sys.stderr)  # one record per line, outside strings escaped
    root.setLevel(level)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "fleetd_action", None)
    if action == "discover":
        return _discover(args)
    if action == "report":
        return _report(args)
    return _daemon(args)


def _fail(message: str) -> int:
    from plumbing.redact import redact

    print(f"surplus fleetd: {redact(message)}", file=sys.stderr)
    return 2


def _daemon(args: argparse.Namespace) -> int:
    from fleetd.allotment import AllotmentError
    from fleetd.budget import BudgetError
    from fleetd.config import ConfigError, load
    from fleetd.daemon import Fleetd
    from plumbing import eventloop

    if args.config is None:
        return _fail("--config FILE is required to run fleetd")
    configure_logging(args.log_level)  # after the imports above (pyasic's among them)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        return _fail(str(exc))

    async def main() -> None:
        fd = Fleetd(cfg)
        task = asyncio.get_running_loop().create_task(fd.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        announce = loop.create_task(_announce(fd))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            announce.cancel()

    try:
        eventloop.run(main())  # uvloop where installed
    except ConfigError as exc:  # e.g. api.token_env names an unset variable
        return _fail(str(exc))
    except (AllotmentError, BudgetError) as exc:  # a figure the config check let through
        return _fail(f"{args.config}: {exc}")
    except OSError as exc:  # a port of [api] or [metrics] is taken
        return _fail(f"cannot listen: {exc}")
    return 0


async def _announce(fd: Fleetd) -> None:
    """Once every part is up: where the API and /metrics are (operators and scripts)."""
    await fd.started.wait()
    if fd.api is not None:
        print(f"surplus fleetd: API on {fd.api.url}", flush=True)
    if fd.metrics_url is not None:
        print(f"surplus fleetd: metrics on {fd.metrics_url}", flush=True)


def _discover(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fleetd.discovery import DiscoveryError, discover, hosts_of

    try:
        total = len(hosts_of(args.cidr))
    except DiscoveryError as exc:
        return _fail(str(exc))

    async def main() -> list:
        with Progress(TextColumn("scanning {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[found]} found"),
                      transient=True) as bar:  # fmt: skip
            task = bar.add_task(args.cidr, total=total, found=0)

            def progress(p: Any) -> None:
                bar.update(task, completed=p.done, found=p.found)

            return await discover(args.cidr, concurrency=args.concurrency,
                                  timeout_s=args.timeout, progress=progress)  # fmt: skip

    try:
        found = asyncio.run(main())
    except DiscoveryError as exc:
        return _fail(str(exc))
    from fleetd.discovery import granularity_of
    from plumbing.escape import printable

    print(f"{'host':<16} {'make':<11} {'model':<20} {'firmware':<12} {'fleetd':<11} control")
    for f in found:  # make, model and firmware are what the rig said: shown escaped
        kind = f.kind.value if f.kind is not None else "not drivable"
        model, firmware = printable(f.model or "?", 64), printable(f.firmware or "?", 64)
        make = printable(f.make or "?", 32)
        print(f"{f.host:<16} {make:<11} {model:<20} {firmware:<12} {kind:<11} "
              f"{granularity_of(f.kind)}")  # fmt: skip
    print(f"{len(found)} rigs found in {args.cidr} ({total} hosts scanned)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from fleetd.report import ReportError, build_report, parse_when, to_csv, to_json

    audit = args.audit
    if audit is None:
        cfg_path = args.report_config or args.config
        if cfg_path is None:
            return _fail("report needs --config FILE or --audit PATH")
        from fleetd.config import ConfigError, load

        try:
            cfg = load(cfg_path)
        except ConfigError as exc:
            return _fail(str(exc))
        if args.site not in cfg.sites:
            return _fail(f"--site {args.site!r}: not in {cfg_path}; sites: {', '.join(cfg.sites)}")
        audit = cfg.audit.path
    try:
        since = parse_when(args.since, "--from")
        until = parse_when(args.until, "--to")
        rows = build_report(audit, site=args.site, since=since, until=until)
    except (ReportError, ValueError) as exc:
        return _fail(str(exc))
    text = to_json(rows, site=args.site, since=since, until=until) if args.format == "json" \
        else to_csv(rows)  # fmt: skip
    if args.output is not None:
        args.output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
