"""A real `surplus pool` process for tests: started from a TOML text, its log in a file,
its RSS read from /proc, stopped with SIGTERM (or killed) and waited for."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.components.bcoin import ROOT

LISTENING = re.compile(r"stratum listening on ([\d.]+):(\d+)")
STATS_API = re.compile(r"stats API on (http://[\d.]+:\d+)/api")
PAYOUT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
# The account names pool-mode tests authorize as (each is mapped to PAYOUT).
POOL_ACCOUNTS = ("fuzz", "alice", "bob", "carol", "dave", "proxy")
# Log lines that must never appear, whatever miners send.
ALARMING = ("Traceback", "Task exception was never retrieved", "internal error",
            "hashing kernels failed", "LedgerClosed", "share store failed")


def devnet_config(mode: str = "solo", *, stratum: str = "", extra: str = "",
                  ledger: Path | None = None, difficulty: str = "1",
                  share_difficulty: float = 2.0**-22) -> str:
    """A pool on the embedded devnet; `stratum` adds keys to [stratum]. The block
    difficulty 1 means no share is a block; every ~1/share_difficulty x 2^32 hashes is a
    share."""
    ledger_section = ""
    if mode == "pool":
        assert ledger is not None
        ledger_section = f'[ledger]\nbackend = "sqlite"\npath = "{ledger}"\nscheme = "pplns"\n'
        # pool mode credits listed account names or addresses only
        ledger_section += "[accounts]\n" + "".join(
            f'{name} = "{PAYOUT}"\n' for name in POOL_ACCOUNTS
        )
    return f"""
mode = "{mode}"
network = "regtest"
payout_address = "{PAYOUT}"

[node]
devnet = true
difficulty = "{difficulty}"

[stratum]
port = 0
{stratum}

[stratum.vardiff]
enabled = false
initial = {share_difficulty!r}
minimum = {min(share_difficulty, 1e-10)!r}

{ledger_section}
{extra}
"""


class PoolProcess:
    """`surplus pool --config FILE` in its own session (process group)."""

    listening = LISTENING  # the output lines that say where it listens
    stats_api = STATS_API

    def __init__(self, tmp: Path, config_text: str, *, nofile: int | None = None,
                 name: str = "pool") -> None:
        self.config = tmp / f"{name}.toml"
        self.config.write_text(config_text)
        self.log_path = tmp / f"{name}.log"
        self.nofile = nofile
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stats_url: str | None = None

    def note(self, line: str) -> None:
        """Take the stratum port and the stats API's URL from an output line that says them."""
        match = self.listening.search(line)
        if match:
            self.port = int(match.group(2))
        api = self.stats_api.search(line)
        if api:
            self.stats_url = api.group(1)

    def _limits(self) -> None:
        if self.nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, timeout: float = 120.0) -> PoolProcess:
        """Start and wait for the listening line (blocking: call through to_thread)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "surplus.cli", "pool", "--config", str(self.config)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log_path.open("w"), text=True,
            start_new_session=True, env=env, preexec_fn=self._limits,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.note(line)
            if self.port and ("[stats_api]" not in self.config.read_text() or self.stats_url):
                return self
            if time.monotonic() > deadline:
                break
        self.kill()
        raise AssertionError(f"the pool did not start:\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        """Resident set size in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alarming(self) -> list[str]:
        """Log lines no input may cause (tracebacks, internal errors, lost shares)."""
        return [line for line in self.log().splitlines() if any(a in line for a in ALARMING)]

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait (blocking); the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the pool did not stop within {timeout} s") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> PoolProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
