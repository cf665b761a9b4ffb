"""Per-rig listening sockets that close while a rig cannot answer and open again after.

Every emulated API (the cgminer-style TCP API, the Braiins gRPC API, the Antminer web
interface) listens on each rig's own loopback address. A listener closes, so that
connections are refused, while
  - the rig has the `unreachable = "refuse"` fault;
  - the process behind it is down (`down_until(i)` in simulated seconds: a mining process
    restarting or stopped, a control board rebooting; each API says which it follows).
The fleet tells the listeners when a rig's faults or outages change, so a listener closes
as the command that took its process down returns; the runner's tick calls `reopen_due`,
which reopens those whose outage has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigsim.fleet import Faults, Fleet

log = logging.getLogger(__name__)


class RigListeners:
    """The listeners of one kind of API for a set of rigs. Subclasses say how to listen
    (`_listen`, `_close_handle`, `_wait_closed`), which rigs serve this API (`serves`) and
    which outage closes it (`down_until`)."""

    name = "API"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._handles: dict[int, Any] = {}
        self._wanted: set[int] = set()
        self._held: set[int] = set()  # closed for an outage, reopened by reopen_due
        self._closing: set[asyncio.Task[None]] = set()
        self._pending: set[asyncio.Task[None]] = set()
        fleet.watch_faults(self._on_faults)
        fleet.watch_outages(self._on_outage)

    # ------------------------------------------------------------------ subclass hooks

    def serves(self, i: int) -> bool:
        return True

    def down_until(self, i: int) -> float:
        """Simulated time until which rig i's listener stays closed (-inf: never closed)."""
        return float("-inf")

    async def _listen(self, i: int) -> Any:
        raise NotImplementedError

    def _close_handle(self, handle: Any) -> None:
        raise NotImplementedError

    async def _wait_closed(self, handle: Any) -> None:
        return None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, rigs: Iterable[int] | None = None) -> None:
        """Listen for the given rigs (default: every rig this API serves). Raises OSError
        naming the address and port that could not be bound."""
        wanted = range(len(self.fleet)) if rigs is None else rigs
        for i in wanted:
            if self.serves(int(i)):
                self._wanted.add(int(i))
                await self._open(int(i))

    def _should_listen(self, i: int) -> bool:
        return (
            i in self._wanted
            and self.fleet.faults(i).unreachable != "refuse"
            and self.fleet.now() >= self.down_until(i)
        )

    async def _open(self, i: int) -> None:
        if i in self._handles:
            return
        if not self._should_listen(i):
            if i in self._wanted:
                self._held.add(i)
            return
        self._held.discard(i)
        self._handles[i] = await self._listen(i)

    def _close(self, i: int) -> None:
        handle = self._handles.pop(i, None)
        if handle is None:
            return
        self._close_handle(handle)
        task = asyncio.get_running_loop().create_task(self._wait_closed(handle))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _spawn_open(self, i: int) -> None:
        task = asyncio.get_running_loop().create_task(self._reopen(i))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reopen(self, i: int) -> None:
        try:
            await self._open(i)
        except OSError as exc:  # the address was taken meanwhile: say so, try next tick
            log.warning("rig %d: cannot reopen its %s: %s", i, self.name, exc)
            self._held.add(i)

    def _on_faults(self, i: int, old: Faults, new: Faults) -> None:
        if i not in self._wanted or old.unreachable == new.unreachable:
            return
        if new.unreachable == "refuse":
            self._close(i)
        elif old.unreachable == "refuse":
            self._spawn_open(i)

    def _on_outage(self, i: int) -> None:
        if i in self._wanted and self.fleet.now() < self.down_until(i):
            self._close(i)
            self._held.add(i)

    def reopen_due(self) -> None:
        """Reopen the listeners whose outage has passed (the runner calls this each tick)."""
        for i in [i for i in self._held if self._should_listen(i)]:
            self._held.discard(i)
            self._spawn_open(i)

    @property
    def listening(self) -> int:
        return len(self._handles)

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        handles = list(self._handles.values())
        self._handles.clear()
        self._wanted.clear()
        self._held.clear()
        for h in handles:
            self._close_handle(h)
        await self._after_close()
        for h in handles:
            with contextlib.suppress(Exception):
                await self._wait_closed(h)
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task

    async def _after_close(self) -> None:
        """Drop live connections once the listeners are closed (subclasses that track them)."""
        return None
