"""Running a daemon's event loop: uvloop when it is installed, asyncio's own otherwise.

Every daemon spends most of its time in small socket reads and writes: the pool's
Stratum server (tens of thousands of shares a second), fleetd's control cycle (thousands
of small rig requests, about 40 % less CPU on uvloop: benchmarks/fleetd.py) and rigsim's
emulated firmware APIs. uvloop's libuv transports do those several times faster than
the selector loop. Everything uses only the standard asyncio API, so both loops run the
same code (tests use the default loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
LoopKind = Literal["auto", "uvloop", "asyncio"]


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run(main: Coroutine[Any, Any, T], loop: LoopKind = "auto") -> T:
    """asyncio.run with the chosen loop; "uvloop" fails clearly when it is missing."""
    if loop == "asyncio" or (loop == "auto" and not uvloop_available()):
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        raise RuntimeError("event loop 'uvloop' asked for but uvloop is not installed") from None
    return uvloop.run(main)
