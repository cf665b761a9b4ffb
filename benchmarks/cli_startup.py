"""How long `surplus --help` and `surplus CMD --help` take, and their peak memory.

    .venv/bin/python benchmarks/cli_startup.py [--runs 15]

Goal (issue 13): each under 0.3 s. Building the parser imports only the commands'
argument definitions (argparse); each command's run() imports its stack. Every figure is
the median of `--runs` fresh processes (wall time, so a loaded machine shows higher
numbers); the last line gives the slowest command beside the goal:

    cli: slowest_help_s=... (goal <0.3, goal/actual ...x) peak_rss_mb=...
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from surplus.cli import COMMANDS  # noqa: E402

GOAL_S = 0.3


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "surplus.cli", *argv], cwd=ROOT,
                       capture_output=True, check=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bare = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    print(f"  python -c pass (the floor)           {statistics.median(bare):6.3f} s")
    worst = 0.0
    for argv in [["--help"]] + [[name, "--help"] for name, _, _ in COMMANDS]:
        seconds = median_seconds(argv, args.runs)
        worst = max(worst, seconds)
        print(f"  surplus {' '.join(argv):<30} {seconds:6.3f} s")
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"cli: slowest_help_s={worst:.3f} (goal <{GOAL_S}, goal/actual {GOAL_S / worst:.1f}x) "
          f"peak_rss_mb={rss_mb:.0f}")
    return 0 if worst < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
