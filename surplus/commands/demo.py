"""`surplus demo`: a whole mining site on allotted power, on this machine (surplus.demo)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUT = Path(".cache") / "demo"  # under the directory the demo runs from


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=_positive, metavar="SECONDS",
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--headless", action="store_true",
                        help="plain log lines instead of the live dashboard (CI, logs)")
    parser.add_argument("--time-scale", type=_positive, metavar="X",
                        help="play the allotment day X times faster (default 96: a day in "
                        "15 minutes; 1440: a day in a minute)")
    parser.add_argument("--rigs", type=int, metavar="N",
                        help="about N rigs instead of the demo fleet's 330 (allotments and "
                        "site loads scale with them)")
    parser.add_argument("--node", metavar="URL",
                        help="a real regtest node's RPC URL (http://user:pass@127.0.0.1:18443/) "
                        "instead of the embedded devnet chain")
    parser.add_argument("--block-time", type=_positive, default=5.0, metavar="SECONDS",
                        help="devnet: the average time between blocks at the fleet's starting "
                        "hashrate (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="configs, logs, ledger, audit log and reports of the run "
                        f"(default {DEFAULT_OUT})")
    parser.add_argument("--free-ports", action="store_true",
                        help="pick free ports instead of the documented ones (3333, 9101-9103, "
                        "8101, 8470, 8480)")
    parser.add_argument("--configs", type=Path, metavar="DIR",
                        help="the shipped configs/ folder (default: ./configs, else the "
                        "checkout's)")
    parser.add_argument("--cut-at", type=_positive, default=150.0, metavar="SECONDS",
                        help="the grid operator's first unannounced cut of the south site, "
                        "seconds after the start; one every 5 minutes after (default 150)")
    parser.add_argument("--cut-depth", type=float, default=0.2, metavar="SHARE",
                        help="how much of the south site's allotment a cut takes (default 0.2)")
    parser.add_argument("--sites", type=int, metavar="N",
                        help="instead: the control room, N sites (2 to 7) under one coordinator "
                        "with a portfolio allotment and an OpenADR VTN (no pool)")  # fmt: skip
    parser.add_argument("--log-every", type=_positive, default=5.0, metavar="SECONDS",
                        help="--headless: seconds between status lines (default 5)")


def run(args: argparse.Namespace) -> int:
    if args.sites is not None:
        if not 2 <= args.sites <= 7:
            print(f"surplus demo: --sites {args.sites}: expected 2 to 7", file=sys.stderr)
            return 2
        from surplus.demo.control_demo import run as run_control

        return run_control(args.sites, args.duration or 90.0, args.out.resolve() / "control")
    if not 0 < args.cut_depth < 1:
        print(f"surplus demo: --cut-depth {args.cut_depth}: expected a share between 0 and 1",
              file=sys.stderr)
        return 2
    from surplus.demo.run import DemoOptions
    from surplus.demo.run import run as run_demo

    return run_demo(DemoOptions(
        duration=args.duration, headless=args.headless, time_scale=args.time_scale,
        rigs=args.rigs, node=args.node, out=args.out.resolve(), free_ports=args.free_ports,
        block_time_s=args.block_time, log_every_s=args.log_every, configs=args.configs,
        cut_at_s=args.cut_at, cut_depth=args.cut_depth,
    ))  # fmt: skip
