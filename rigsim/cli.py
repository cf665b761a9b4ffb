"""`surplus rigsim --fleet FILE [--pool URL]`: run an emulated fleet until stopped.

Follows the `surplus.commands` convention (`register(parser)`, `run(args)`), so the
console script only needs a one-line module that re-exports these two functions.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from plumbing import logs
from plumbing.escape import printable
from plumbing.netaddr import loopback_host, split_host_port
from plumbing.options import add_log_level
from plumbing.redact import redact

if TYPE_CHECKING:  # numpy, pydantic, aiohttp: loaded by run(), not by --help
    from rigsim.fleet import Fleet


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", required=True, help="fleet TOML (e.g. configs/fleet-demo.toml)")
    parser.add_argument("--pool", help="stratum+tcp://HOST:PORT the rigs mine on")
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="HOST:PORT",
        help="serve /metrics and the JSON site meters (/sites/...) here, on loopback; "
        "'off' for none (default: the fleet file's [metrics], 127.0.0.1:9103)",
    )
    add_log_level(parser)
    parser.add_argument(
        "--no-api",
        action="store_true",
        help="no TCP APIs: physics only (in-process mode, any fleet size)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default: run until interrupted)",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=10.0,
        help="print site power and hashrate every N seconds (0: never)",
    )


def _status_line(fleet: Fleet) -> str:
    meter = fleet.site_meter_w()
    ths = fleet.site_hashrate_ths()
    sites = "  ".join(f"{printable(s)}: {meter[s] / 1e3:8.1f} kW {ths[s]:8.1f} TH/s"
                      for s in meter)  # fmt: skip
    counts = fleet.state_counts()
    states = " ".join(f"{k}={v}" for k, v in counts.items() if v)
    return f"{time.strftime('%H:%M:%S')}  {sites}  [{states}]"


def _metrics_address(value: str) -> tuple[str, int] | None:
    """--metrics HOST:PORT on loopback (the meters have no authentication), or None for
    'off'; ConfigError saying what was expected."""
    from rigsim.config import ConfigError

    if value == "off":
        return None
    try:
        host, port = split_host_port(value, allow_zero=True)
        return loopback_host(host), port
    except ValueError as exc:
        raise ConfigError(f"--metrics: {exc} (or 'off')") from None


async def _main(args: argparse.Namespace) -> int:
    import asyncio  # here, like the rest: `surplus --help` never loads the event loop
    import contextlib
    import signal

    from rigsim.config import load_fleet_config
    from rigsim.fleet import Fleet
    from rigsim.metrics import RigsimMetrics
    from rigsim.mining import attach, parse_pool_url
    from rigsim.runner import FleetRunner

    if args.pool:
        parse_pool_url(args.pool)  # a bad URL is refused before anything starts
    metrics_at = None if args.metrics is None else _metrics_address(args.metrics)
    cfg = load_fleet_config(args.fleet)
    if args.metrics is None and cfg.metrics.enabled:
        metrics_at = (cfg.metrics.host, cfg.metrics.port)
    if args.pool:
        cfg = cfg.model_copy(update={"fleet": cfg.fleet.model_copy(update={"pool_url": args.pool})})
    fleet = Fleet(cfg, source=args.fleet)
    runner = FleetRunner(fleet, serve_api=not args.no_api)
    await runner.start()
    first, last = fleet.rigs[0].address, fleet.rigs[-1].address
    families = sorted({r.firmware for r in fleet.rigs})
    api = runner.api
    where = (
        "no sockets"
        if api is None
        else f"{', '.join(families)} APIs on {first} .. {last} (port {api.port} and "
        "the families' own)"
    )
    print(f"rigsim: {len(fleet)} rigs ({where})", flush=True)
    metrics = None
    if metrics_at is not None:
        metrics = RigsimMetrics(fleet)
        bound = await metrics.serve(*metrics_at)
        print(f"rigsim: metrics on http://{bound[0]}:{bound[1]}/metrics, site meters on "
              f"http://{bound[0]}:{bound[1]}/sites", flush=True)  # fmt: skip
    miners = None
    if args.pool:
        miners = await attach(fleet, args.pool)
        print(
            f"rigsim: mining on {redact(args.pool)} at {fleet.config.fleet.hashrate_scale:g} H/s "
            "per simulated TH/s",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    every = args.status_every if args.status_every > 0 else float("inf")
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            wait = min(every, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
            if every != float("inf"):
                print(_status_line(fleet), flush=True)
    finally:
        if miners is not None:
            await miners.stop()
        if metrics is not None:
            await metrics.close()
        await runner.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    from plumbing import eventloop
    from rigsim.config import ConfigError
    from rigsim.mining import PoolUrlError

    logs.configure(getattr(args, "log_level", "INFO"))
    try:
        return eventloop.run(_main(args))  # uvloop where installed
    except (ConfigError, PoolUrlError) as exc:
        print(f"rigsim: {redact(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"rigsim: {redact(str(exc))}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rigsim", description=__doc__.splitlines()[0])
    register(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
