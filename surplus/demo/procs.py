"""The demo's child processes: the real `surplus` commands, each logging to its own file.

A child that dies early is reported with the last lines of its log, so a port already
taken or a bad config is named on the demo's screen rather than lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp


class DemoError(RuntimeError):
    """The demo cannot go on; the message says which part failed and why."""


class Child:
    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", "surplus.cli", *args]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def failure(self) -> DemoError:
        code = None if self.proc is None else self.proc.returncode
        return DemoError(f"{self.name} exited (code {code}); the end of {self.log}:\n{self.tail()}")

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a clean shutdown: miners told to reconnect, ledger closed), then KILL."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return None if proc is None else proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return await proc.wait()


async def wait_ready(
    child: Child, url: str, session: aiohttp.ClientSession, timeout: float
) -> None:
    """Until `url` answers 200, or raise DemoError naming the child (dead or silent)."""
    deadline = time.monotonic() + timeout
    while True:
        if not child.alive:
            raise child.failure()
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    return
        if time.monotonic() > deadline:
            raise DemoError(f"{child.name} did not answer {url} within {timeout:g} s; "
                            f"the end of {child.log}:\n{child.tail()}")  # fmt: skip
        await asyncio.sleep(0.2)
