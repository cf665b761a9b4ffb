"""A fleet of emulated rigs: physics, addresses, sites, faults, firmware settings, events.

`Fleet` is synchronous and takes its time from a Clock, so it runs in three ways:
  - behind TCP LuxOS APIs, one per rig on its loopback address (rigsim.runner);
  - in-process with no sockets for 100,000+ rigs: call `api_call(i, request)` for the
    very replies the TCP API gives, or the vectorised commands on `fleet.physics`;
  - under a FakeClock in tests.

True draw (what the site meter sees) and reported power (what each rig's API says)
are kept apart: `true_w`, `reported_w`, `site_true_w()`, `site_meter_w()`.

The seam for the Stratum mining client: each `Rig` exposes `hashrate_ths`, `is_hashing`,
`state` and `subscribe(callback)`; the callback gets a RigEvent on every state change
(boot done, ramp done, slept, overheated, ...) and may be a coroutine function.
`Rig.pool` holds the share counters the `pools` command reports; the client updates it.

Each rig runs one firmware family (`Rig.firmware`, rigsim.firmware); the fleet's control
primitives (`set_clock`, `restart_process`, `stop_process`, `sleep`, `wake`, `reboot`)
are what the families' commands act through, and `watch_outages` tells the API servers
when a rig's mining process or control board stops answering.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rigsim.clock import Clock, ScaledClock
from rigsim.config import FleetConfig, load_fleet_config
from rigsim.firmware import FirmwareApis
from rigsim.loads import site_firm_w, site_meter_w
from rigsim.physics import FleetPhysics, PhysicsGroup, RigReading, RigState
from rigsim.rig import (
    ANTMINER,
    BRAIINS,
    HEALTHY,
    MODE_SLEEP,
    Faults,
    FirmwareSettings,
    Listener,
    PoolStatus,
    Rig,
    RigEvent,
)
from rigsim.sessions import SessionBook

__all__ = ["HEALTHY", "Faults", "Fleet", "PoolStatus", "Rig", "RigEvent"]


async def _awaited(result: Awaitable[None]) -> None:
    """A listener's awaitable as a coroutine a task can run."""
    await result


class Fleet:
    """Every rig of a site (or several sites), built from a FleetConfig."""

    def __init__(
        self, config: FleetConfig, clock: Clock | None = None, source: str = "<fleet config>"
    ) -> None:
        self.config = config
        self.source = source
        self.clock: Clock = clock or ScaledClock(config.fleet.time_scale)
        self.sessions = SessionBook(config.fleet.session_timeout_s)
        # simulated seconds a reading may lag the clock; a FleetRunner sets it to one tick
        self.read_staleness_s = 0.0
        now = self.clock.now()
        self.started_at = now  # firm loads run on simulated time from here
        groups = []
        self.rigs: list[Rig] = []
        self.site_names = list(config.sites)
        site_of: list[np.ndarray] = []
        fault_plan: list[tuple[int, Faults]] = []
        for gi, g in enumerate(config.rigs):
            model = config.model_for(g.model)
            site = config.sites[g.site]
            groups.append(
                PhysicsGroup(
                    model=model,
                    count=g.count,
                    ambient_c=site.ambient_c if g.ambient_c is None else g.ambient_c,
                    start=RigState.HASHING if g.start == "hashing" else RigState.SLEEPING,
                    profile=g.profile,
                    hashrate_spread=config.fleet.hashrate_spread,
                )
            )
            first, _ = g.address_range()
            base = len(self.rigs)
            for k in range(g.count):
                i = base + k
                self.rigs.append(
                    Rig(
                        self,
                        i,
                        str(ipaddress.IPv4Address(first + k)),
                        g.site,
                        model,
                        f"{g.site}-{model.key.lower()}-{i:05d}",
                        g.firmware,
                        g.whatsminer_api == "v3",
                        g.pool_url,
                    )
                )
            site_of.append(np.full(g.count, self.site_names.index(g.site), dtype=np.int16))
            if g.faults is not None:
                rng = np.random.default_rng(config.fleet.seed * 1000 + gi)
                k = max(1, round(g.faults.fraction * g.count))
                chosen = np.sort(rng.choice(g.count, size=k, replace=False))
                fault_plan += [(base + int(c), Faults.from_config(g.faults)) for c in chosen]
        self.physics = FleetPhysics(groups, now=now, seed=config.fleet.seed)
        self.site_idx = np.concatenate(site_of)
        self.by_address: dict[str, Rig] = {r.address: r for r in self.rigs}
        self._faults: dict[int, Faults] = {}
        self._firmware: dict[int, FirmwareSettings] = {}
        self._pools: dict[int, PoolStatus] = {}
        self._listeners: dict[int | None, list[Listener]] = {}
        self._fault_watchers: list[Callable[[int, Faults, Faults], None]] = []
        self._outage_watchers: list[Callable[[int], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        for i, f in fault_plan:
            self.set_faults(i, f)
        for asleep in np.nonzero(self.physics.state == RigState.SLEEPING)[0]:
            rig = self.rigs[int(asleep)]  # a rig that starts asleep was put to sleep its own way
            if rig.firmware == BRAIINS:
                self.firmware(rig.index).paused = True
            elif rig.firmware == ANTMINER:
                self.firmware(rig.index).work_mode = MODE_SLEEP
        self.apis = FirmwareApis(self)
        self.luxos = self.apis.luxos

    @classmethod
    def from_file(cls, path: str | Path, clock: Clock | None = None) -> Fleet:
        return cls(load_fleet_config(path), clock=clock, source=str(path))

    def __len__(self) -> int:
        return len(self.rigs)

    def now(self) -> float:
        return self.clock.now()

    # ---------------------------------------------------------------- time and events

    def advance(self, now: float | None = None) -> list[RigEvent]:
        """Advance every rig to `now` (default: the clock) and emit state-change events."""
        now = self.now() if now is None else now
        before = self.physics.state.copy()
        self.physics.advance(now)
        return self._diff(np.arange(len(self.rigs)), before, now)

    def touch(self, i: int, now: float | None = None) -> None:
        """Advance one rig only (cheap; what an API request does before it reads)."""
        now = self.now() if now is None else now
        before = self.physics.state[i : i + 1].copy()
        self.physics.advance(now, i)
        self._diff(np.array([i]), before, now)

    def _diff(self, idx: np.ndarray, before: np.ndarray, now: float) -> list[RigEvent]:
        after = self.physics.state[idx]
        changed = np.nonzero(before != after)[0]
        events = [
            RigEvent(self.rigs[int(idx[c])], RigState(int(before[c])), RigState(int(after[c])), now)
            for c in changed
        ]
        if events:
            self._emit(events)
        return events

    def subscribe(self, callback: Listener, rig: int | None = None) -> Callable[[], None]:
        """Listen to one rig's state changes, or every rig's (rig=None)."""
        self._listeners.setdefault(rig, []).append(callback)

        def unsubscribe() -> None:
            lst = self._listeners.get(rig, [])
            if callback in lst:
                lst.remove(callback)

        return unsubscribe

    def _emit(self, events: list[RigEvent]) -> None:
        everyone = self._listeners.get(None, [])
        for ev in events:
            for cb in (*self._listeners.get(ev.rig.index, ()), *everyone):
                result = cb(ev)
                if inspect.isawaitable(result):
                    task = asyncio.get_running_loop().create_task(_awaited(result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def _command(
        self, action: Callable[[np.ndarray, float], None], rigs: int | Sequence[int] | np.ndarray
    ) -> list[RigEvent]:
        idx = np.atleast_1d(np.asarray(rigs, dtype=np.int64))
        now = self.now()
        before = self.physics.state[idx].copy()
        action(idx, now)  # advances the rigs to `now`, then acts
        return self._diff(idx, before, now)

    # ---------------------------------------------------------------- commands

    def sleep(self, rigs: int | Sequence[int] | np.ndarray) -> list[RigEvent]:
        return self._command(self.physics.sleep, rigs)

    def wake(self, rigs: int | Sequence[int] | np.ndarray) -> list[RigEvent]:
        return self._command(self.physics.wake, rigs)

    def set_profile(self, rigs: int | Sequence[int] | np.ndarray, profile: str) -> list[RigEvent]:
        """Select a profile by name on rigs that all share one model."""
        idx = np.atleast_1d(np.asarray(rigs, dtype=np.int64))
        models = {self.rigs[int(i)].model.key for i in idx}
        if len(models) != 1:
            raise ValueError(f"set_profile needs rigs of one model; got {sorted(models)}")
        p = self.rigs[int(idx[0])].model.profile_index(profile)
        return self._command(lambda ix, now: self.physics.set_profile(ix, p, now), idx)

    def reboot(
        self, rigs: int | Sequence[int] | np.ndarray, api_down: bool = True
    ) -> list[RigEvent]:
        """Reboot the control board (api_down) or restart only the mining process."""
        if api_down:
            for i in np.atleast_1d(rigs):
                self.sessions.drop(int(i))
                fw = self._firmware.get(int(i))
                if fw is not None:  # login tokens live in memory: a reboot drops them
                    fw.tokens.clear()
        events = self._command(lambda ix, now: self.physics.reboot(ix, now, api_down), rigs)
        if api_down:
            self._outage(rigs)
        return events

    def set_clock(
        self,
        rigs: int | Sequence[int] | np.ndarray,
        x: float,
        up_s: float | np.ndarray | None = None,
        down_s: float | np.ndarray | None = None,
    ) -> list[RigEvent]:
        """Run at relative clock x, ramping over up_s/down_s (default ramp_up_s, shed_s)."""
        return self._command(lambda ix, now: self.physics.set_clock(ix, x, now, up_s, down_s), rigs)

    def restart_process(
        self, rigs: int | Sequence[int] | np.ndarray, hashing: bool = True
    ) -> list[RigEvent]:
        """Restart the mining process: its API refuses for restart_api_s; with `hashing` the
        boards stop and come back restart_s later, without it they shed to sleep."""
        events = self._command(lambda ix, now: self.physics.restart_process(ix, now, hashing), rigs)
        self._outage(rigs)
        return events

    def stop_process(self, rigs: int | Sequence[int] | np.ndarray) -> list[RigEvent]:
        """Stop the mining process until restarted: its API refuses, the boards sleep."""
        events = self._command(self.physics.stop_process, rigs)
        self._outage(rigs)
        return events

    def watch_outages(self, callback: Callable[[int], None]) -> None:
        """Call callback(rig) when a rig's mining process or control board goes down (the
        API servers close or hold that rig's listeners)."""
        self._outage_watchers.append(callback)

    def _outage(self, rigs: int | Sequence[int] | np.ndarray) -> None:
        for i in np.atleast_1d(rigs):
            for watch in self._outage_watchers:
                watch(int(i))

    # ---------------------------------------------------------------- faults

    def faults(self, i: int) -> Faults:
        return self._faults.get(i, HEALTHY)

    def set_faults(self, i: int, faults: Faults) -> None:
        """Replace rig i's faults (HEALTHY clears them). Takes effect at once."""
        old = self.faults(i)
        now = self.now()
        ph = self.physics
        if faults.failed_boards != old.failed_boards:
            ph.set_failed_boards(i, faults.failed_boards, now)
        if faults.fans_failed != old.fans_failed:
            ph.set_fans_failed(i, faults.fans_failed, now)
        if faults.meter_factor != old.meter_factor:
            ph.set_report_factor(i, faults.meter_factor, now)
        if faults.drift_awake_after_s != old.drift_awake_after_s:
            ph.set_drift(i, faults.drift_awake_after_s, now)
        if faults == HEALTHY:
            self._faults.pop(i, None)
        else:
            self._faults[i] = faults
        for watch in self._fault_watchers:
            watch(i, old, faults)

    def update_faults(self, i: int, **changes: Any) -> Faults:
        """Change some of rig i's faults, e.g. update_faults(3, unreachable="refuse")."""
        if "failed_boards" in changes:
            changes["failed_boards"] = tuple(changes["failed_boards"])
        new = replace(self.faults(i), **changes)
        self.set_faults(i, new)
        return new

    def watch_faults(self, callback: Callable[[int, Faults, Faults], None]) -> None:
        """Call callback(rig, old, new) when a rig's faults change (the API server listens)."""
        self._fault_watchers.append(callback)

    @property
    def faulty(self) -> dict[int, Faults]:
        return dict(self._faults)

    # ---------------------------------------------------------------- firmware and pool

    def firmware(self, i: int) -> FirmwareSettings:
        fw = self._firmware.get(i)
        if fw is None:
            fw = self._firmware[i] = FirmwareSettings()
        return fw

    def pool_status(self, i: int) -> PoolStatus:
        ps = self._pools.get(i)
        if ps is None:
            f = self.config.fleet
            rig = self.rigs[i]
            ps = self._pools[i] = PoolStatus(rig.pool_url or f.pool_url,
                                             f"{f.worker_prefix}.{rig.name}")  # fmt: skip
        return ps

    # ---------------------------------------------------------------- readings

    def reading(self, i: int) -> RigReading:
        """Rig i now. A rig the tick advanced less than a tick ago is read as it stands
        (a running fleet serves reads without physics work); an older one is advanced."""
        now = self.now()
        if now - float(self.physics.t_last[i]) > self.read_staleness_s:
            self.touch(i, now)
        return self.physics.reading(i, now)

    def api_call(
        self, i: int, request: dict[str, Any] | str, session_now: float | None = None
    ) -> dict[str, Any]:
        """The reply rig i gives to `request` on port 4028, without a socket (in-process
        mode): LuxOS's, bosminer's, bmminer's or btminer's, as the rig's firmware is."""
        return self.apis.call(i, request, session_now)

    @property
    def true_w(self) -> np.ndarray:
        return self.physics.true_w

    @property
    def reported_w(self) -> np.ndarray:
        return self.physics.reported_w

    @property
    def hashrate_ths(self) -> np.ndarray:
        return self.physics.ths

    def _by_site(self, values: np.ndarray) -> dict[str, float]:
        sums = np.bincount(self.site_idx, weights=values, minlength=len(self.site_names))
        return {s: float(v) for s, v in zip(self.site_names, sums, strict=True)}

    def site_true_w(self) -> dict[str, float]:
        """Sum of the rigs' true draw per site (no overhead)."""
        return self._by_site(self.physics.true_w)

    def site_meter_w(self) -> dict[str, float]:
        """What each site's utility meter reads: true draw x PUE, plus the site's fixed
        auxiliary load and its firm loads (rigsim.loads)."""
        elapsed = self.now() - self.started_at
        sites = self.config.sites
        return {s: site_meter_w(sites[s], w, elapsed) for s, w in self.site_true_w().items()}

    def site_firm_w(self) -> dict[str, dict[str, float]]:
        """Each site's firm loads (name -> watts) now."""
        elapsed = self.now() - self.started_at
        return {s: site_firm_w(self.config.sites[s], elapsed) for s in self.site_names}

    def site_reported_w(self) -> dict[str, float]:
        """Sum of what the rigs' APIs report per site (what a fleet tool believes)."""
        return self._by_site(self.physics.reported_w)

    def site_hashrate_ths(self) -> dict[str, float]:
        return self._by_site(self.physics.ths)

    def state_counts(self) -> dict[str, int]:
        counts = np.bincount(self.physics.state.astype(np.int64), minlength=len(RigState))
        return {s.name.lower(): int(counts[s]) for s in RigState}

    def rigs_at_site(self, site: str) -> list[Rig]:
        return [r for r in self.rigs if r.site == site]
