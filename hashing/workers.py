"""The helper threads that share a large batch with its caller (`hashing.handoff`).

Each helper runs its kernel module's `serve` (native code, GIL released): it takes the
batches posted to its mailbox while it spins, SPIN_SECONDS of its own running time after
each one, then sleeps on an Event until the next caller wakes it. Back-to-back batches
so find it running; a batch after a pause pays one wake (a few microseconds of the
caller's time) and gets whatever help arrives before it is done, never a wait for the
helper to wake up.

What a caller may wait for is a helper that lost its core in the middle of a claim:
on a machine where another process wants that core, batches then go without helpers
for a while (_Calm), so that two threads are never much slower than one.

One caller at a time uses the helpers; a second caller meanwhile hashes on its own
thread rather than queue behind the first.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

from hashing import choice, handoff

# How long a helper spins for the next batch after each one (running, not wall time):
# longer than the Python work between two back-to-back batches, short enough that an
# idle process soon burns nothing.
SPIN_SECONDS = 200e-6
_CALIBRATE_SECONDS = 0.002
# A join that waited this long was for a helper the scheduler had set aside (_Calm).
LATE_JOIN_SECONDS = 200e-6
CALM_SECONDS = 0.002
CALM_MAX_SECONDS = 1.0
_clock = time.perf_counter
# Below this the cycle counter is not one (a CPU where LLVM's readcyclecounter reads 0 or
# traps nothing useful): helpers, which time their spin by it, are not used.
MIN_TICK_RATE = 1e6

_ticks_per_second: float | None = None
_lock = threading.Lock()
_helpers: list[Helper] = []


def ticks_per_second() -> float:
    """The rate of handoff.ticks() (the TSC), measured once against perf_counter."""
    global _ticks_per_second
    if _ticks_per_second is None:
        handoff.now()  # loaded (or compiled) before the clock starts
        t0, c0 = time.perf_counter(), handoff.now()
        time.sleep(_CALIBRATE_SECONDS)
        t1, c1 = time.perf_counter(), handoff.now()
        _ticks_per_second = max(1.0, (c1 - c0) / (t1 - t0))
    return _ticks_per_second


class Helper:
    """One helper thread, its mailbox and the Event it sleeps on between spins."""

    def __init__(self) -> None:
        kernel = choice.chosen("batch")
        self.box = handoff.mailbox()
        self.wake = threading.Event()
        self._serve = kernel.server()
        self._width = kernel.width
        self.thread = threading.Thread(target=self._run, name="sha256d-helper", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        spin = int(SPIN_SECONDS * ticks_per_second())
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.box[handoff.STATE] == handoff.STOP:
                return
            self._serve(self._width, self.box, spin)

    def stop(self) -> None:
        handoff.stop(self.box)
        self.wake.set()


def _start(count: int) -> list[Helper]:
    while len(_helpers) < count:
        _helpers.append(Helper())
    return _helpers[:count]


def share(
    fn: Callable,
    headers: np.ndarray,
    targets: np.ndarray,
    digests: np.ndarray,
    meets: np.ndarray,
    n: int,
    claims: np.ndarray,
    threads: int,
) -> None:
    """fn (the chosen batch kernel) over rows [0, n) on this thread and up to
    `threads` - 1 helpers, all claiming rows from `claims`."""
    if (_clock() < _calm.until or ticks_per_second() < MIN_TICK_RATE
            or not _lock.acquire(blocking=False)):  # fmt: skip
        fn(headers, targets, digests, meets, 0, n, claims)  # alone: see _Calm; a CPU
        return  # without a cycle counter the helpers could time by; or another caller's
    try:
        helpers = _start(threads - 1)
        try:  # every mailbox is joined, posted or not (joining an idle one returns at once)
            for helper in helpers:
                if not handoff.post(helper.box, headers, targets, digests, meets, 0, n,
                                    claims):  # fmt: skip
                    helper.wake.set()
            fn(headers, targets, digests, meets, 0, n, claims)
        finally:
            start, took = _clock(), False
            for helper in helpers:
                took |= handoff.join(helper.box)
            if took:  # a job withdrawn says nothing of how helpers fare
                _calm.joined(_clock() - start)
    finally:
        _lock.release()


class _Calm:
    """Batches go without helpers for a while after a helper kept its caller waiting.

    A join normally waits for at most a claim's rows (microseconds). A long wait means a
    helper lost its core in the middle of a claim, to another process: on a machine
    that busy the caller is better off alone (waiting for the helper's next time slice
    costs milliseconds, many batches' worth). The pause doubles with every late join
    in a row, from CALM_SECONDS (a lone hiccup costs little) up to CALM_MAX_SECONDS (a
    core busy for long is tried about once a second); a prompt join of a helper that
    took part ends the series.
    """

    def __init__(self) -> None:
        self.until = 0.0
        self.pause = 0.0

    def joined(self, waited: float) -> None:
        if waited < LATE_JOIN_SECONDS:
            self.pause = 0.0
            return
        self.pause = min(CALM_MAX_SECONDS, max(CALM_SECONDS, 2 * self.pause))
        self.until = _clock() + self.pause


def stop_all() -> None:
    """Let every helper go (after the kernel choice changes: new ones serve the new one)."""
    with _lock:
        for helper in _helpers:
            helper.stop()
        _helpers.clear()


def _forget_in_child() -> None:
    """A forked child has none of its parent's threads: start afresh."""
    global _lock
    _lock = threading.Lock()
    _helpers.clear()


_calm = _Calm()
choice.on_reset(stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
