"""Waiting on a condition with a deadline: how a test synchronises with what runs beside
it (a server's task, a thread, another process), instead of sleeping a fixed time that a
loaded machine can outlast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "",
                   interval: float = 0.01) -> None:  # fmt: skip
    """Return once `predicate()` is true; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        await asyncio.sleep(interval)


def wait_for_sync(predicate: Callable[[], object], timeout: float = 10.0, what: str = "",
                  interval: float = 0.01) -> None:  # fmt: skip
    """wait_for, for a test (or a thread) without an event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)
