"""Waiting on a condition with a deadline: how a test synchronises with what runs beside
it (a server's task, a thread, another process), instead of sleeping a fixed time that a
loaded machine can outlast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Described = str | Callable[[], str]  # what is awaited, or how to say it when it times out


def _timed_out(timeout: float, what: Described, predicate: object) -> AssertionError:
    text = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout:g} s waiting for {text or predicate}")


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: Described = "",
                   interval: float = 0.01) -> None:  # fmt: skip
    """Return once `predicate()` is true; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what, predicate)
        await asyncio.sleep(interval)


def wait_for_sync(predicate: Callable[[], object], timeout: float = 10.0, what: Described = "",
                  interval: float = 0.01) -> None:  # fmt: skip
    """wait_for, for a test (or a thread) without an event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what, predicate)
        time.sleep(interval)


async def wait_until(check: Callable[[], Awaitable[object]], timeout: float = 10.0,
                     what: Described = "", interval: float = 0.1) -> None:  # fmt: skip
    """wait_for with an async `check` (one that asks a server over HTTP, say)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what, check)
        await asyncio.sleep(interval)
