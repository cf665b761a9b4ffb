"""Rig physics for a whole fleet at once: state machine, power, hashrate, heat, fans, faults.

Pure and synchronous: nothing here reads a clock or touches the network. Every
method takes the simulated time `now` (seconds), so a test drives hours of rig
life in microseconds and a fleet runs at any time compression.

State lives in numpy arrays, one element per rig, so 100,000 rigs advance in a
few milliseconds. Each rig also carries the time it was last advanced, so an API
command on one rig advances only that rig (`sel` = its index) instead of the fleet.

The state machine (RigState):
    SLEEPING --wake--> BOOTING --boot_s--> RAMPING --ramp--> HASHING
    HASHING/RAMPING --sleep--> RAMPING(to sleep, shed_s) --> SLEEPING
    HASHING --profile change--> RAMPING (ramp_up_s up, shed_s down) --> HASHING
    HASHING --new clock (a watt target)--> RAMPING (the firmware's own up/down times) --> HASHING
    any --mining-process restart--> BOOTING for restart_s (its own API refuses meanwhile)
    RAMPING/HASHING --chip temp >= danger_c--> OVERHEATED --cooled, auto restart--> BOOTING
    RAMPING/HASHING --every hashboard failed--> FAILED --reboot--> BOOTING
    any --reboot--> BOOTING (its API is down for api_down_s)
    SLEEPING --drift fault, drift_after_s later--> BOOTING (a rig that wakes itself)

Heat: the fan controller holds the chips at target_c while the fans have headroom
(feed-forward on the heat the rig makes); above hot_c the firmware derates the clock
linearly down to min_derate at danger_c; at danger_c the hashboards shut down.
Chip temperature follows its equilibrium with time constant tau_s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from rigsim.models import V_FLOOR, RigModel

NATURAL_COOLING = 0.08  # cooling of a rig whose fans stand still, relative to fans at 100 %
FAN_EXPONENT = 0.8  # heat transfer grows with airflow ** 0.8
RECOVER_BELOW_HOT_C = 20.0  # an overheated rig restarts once this far below hot_c
MAX_STEP_OF_TAU = 0.1  # thermal integration step, as a share of the time constant


class RigState(IntEnum):
    SLEEPING = 0
    BOOTING = 1
    RAMPING = 2
    HASHING = 3
    OVERHEATED = 4
    FAILED = 5


# plain ints for the array code (IntEnum attribute lookups dominate small-array work)
_SLEEPING, _BOOTING, _RAMPING, _HASHING, _OVERHEATED, _FAILED = (int(s) for s in RigState)


@dataclass(frozen=True)
class PhysicsGroup:
    """A run of identical rigs, in fleet order."""

    model: RigModel
    count: int
    ambient_c: float = 25.0
    start: RigState = RigState.HASHING
    profile: str = "default"
    hashrate_spread: float = 0.0  # per-rig chip quality: relative std-dev of hashrate


@dataclass(frozen=True, slots=True)
class RigReading:
    """One rig at one instant, in plain Python numbers (what its API reports from)."""

    state: RigState
    ths: float
    true_w: float
    reported_w: float
    chip_temp_c: float
    ambient_c: float
    fan_fraction: float
    fan_rpm: int
    fans_ok: int
    derate: float
    profile_index: int
    boards_ok: tuple[bool, ...]
    uptime_s: float
    expected_ths: float
    api_down_until: float
    clock: float = 0.0  # relative clock now (0 while the boards are idle)
    clock_set: float = 1.0  # relative clock the rig runs at once it hashes and settles
    process_uptime_s: float = 0.0  # since the mining process (bmminer, btminer, ...) started
    process_down_until: float = float("-inf")  # the mining process's API refuses until then


def _g(x: np.ndarray) -> np.ndarray:
    v = V_FLOOR + (1.0 - V_FLOOR) * x
    return x * v * v


def _pick(v: float | np.ndarray | None, k: np.ndarray) -> float | np.ndarray | None:
    """The entries k of a per-rig array (a scalar or None stays as it is)."""
    return v if v is None or np.ndim(v) == 0 else np.asarray(v)[k]


def _as_sel(sel: int | slice | Sequence[int] | np.ndarray) -> slice | np.ndarray:
    if isinstance(sel, slice):
        return sel
    if isinstance(sel, (int, np.integer)):
        return np.array([int(sel)], dtype=np.int64)
    return np.asarray(sel, dtype=np.int64)


# Arrays that change as rigs run; everything else is fixed per rig.
_DYNAMIC = (
    "state", "t_last", "phase_t0", "phase_end", "x_from", "x_to", "to_sleep", "profile",
    "x_cur", "temp", "fan", "derate", "drift_at", "boot_at", "api_down_until",
    "ths", "true_w", "x_set",
)  # fmt: skip


class FleetPhysics:
    """The physical state of every rig in a fleet, advanced by explicit time."""

    def __init__(self, groups: Sequence[PhysicsGroup], now: float, seed: int = 0) -> None:
        if not groups:
            raise ValueError("a fleet needs at least one group of rigs")
        self.models: list[RigModel] = []
        model_ids: dict[int, int] = {}
        midx, amb, start, prof, spread = [], [], [], [], []
        for g in groups:
            if g.count <= 0:
                raise ValueError(f"group of {g.model.key} has count {g.count}; expected > 0")
            if id(g.model) not in model_ids:
                model_ids[id(g.model)] = len(self.models)
                self.models.append(g.model)
            m = model_ids[id(g.model)]
            midx.append(np.full(g.count, m, dtype=np.int16))
            amb.append(np.full(g.count, g.ambient_c))
            start.append(np.full(g.count, int(g.start), dtype=np.int8))
            prof.append(np.full(g.count, g.model.profile_index(g.profile), dtype=np.int16))
            spread.append(np.full(g.count, g.hashrate_spread))
        self.n = n = int(sum(g.count for g in groups))
        self.model_idx = np.concatenate(midx)
        rng = np.random.default_rng(seed)

        def per_rig(attr: str, dtype: type = np.float64) -> np.ndarray:
            table: np.ndarray = np.array([getattr(m, attr) for m in self.models], dtype=dtype)
            return table[self.model_idx]

        self.nameplate_ths = per_rig("nameplate_ths")
        self.nameplate_w = per_rig("nameplate_w")
        self.base_w = per_rig("base_w")
        self.sleep_w = per_rig("sleep_w")
        self.boot_s = per_rig("boot_s")
        self.ramp_up_s = per_rig("ramp_up_s")
        self.shed_s = per_rig("shed_s")
        self.api_down_s = per_rig("api_down_s")
        self.restart_s = per_rig("restart_s")
        self.restart_api_s = per_rig("restart_api_s")
        self.rise_c = per_rig("rise_c")
        self.tau_s = per_rig("tau_s")
        self.target_c = per_rig("target_c")
        self.hot_c = per_rig("hot_c")
        self.danger_c = per_rig("danger_c")
        self.min_derate = per_rig("min_derate")
        self.fan_min = per_rig("fan_min")
        self.boards = per_rig("hashboards", np.int16)
        self.fans = per_rig("fans", np.int16)
        self.fan_max_rpm = per_rig("fan_max_rpm")
        n_prof = max(len(m.profiles) for m in self.models)
        self._prof_x = np.full((len(self.models), n_prof), np.nan)
        for row, model in enumerate(self.models):
            self._prof_x[row, : len(model.profiles)] = [p.x for p in model.profiles]

        spread_arr = np.concatenate(spread)
        self.quality = np.clip(1.0 + spread_arr * rng.standard_normal(n), 0.8, 1.2)
        self.ambient_c = np.concatenate(amb).astype(np.float64)

        # faults
        self.failed_mask = np.zeros(n, dtype=np.int32)  # bit b set: hashboard b+1 is dead
        self.working = np.ones(n)  # share of hashboards alive
        self.fans_failed = np.zeros(n, dtype=np.int16)
        self.report_factor = np.ones(n)  # reported power / true power
        self.drift_after = np.full(n, np.nan)  # seconds after a sleep that the rig wakes itself
        self.auto_restart = np.ones(n, dtype=bool)  # an overheated rig reboots once cool

        # dynamic state
        st = np.concatenate(start)
        self.state = st.astype(np.int8)
        self.t_last = np.full(n, float(now))
        self.phase_t0 = np.full(n, float(now))
        self.phase_end = np.full(n, np.inf)
        self.profile = np.concatenate(prof)
        px = self._profile_x(self.profile, slice(None))
        hashing = st == RigState.HASHING
        self.x_from = np.where(hashing, px, 0.0)
        self.x_to = np.where(hashing, px, 0.0)
        self.x_cur = self.x_to.copy()
        self.x_set = px.copy()  # the clock a hashing rig settles at (a profile's or a target's)
        self.to_sleep = np.zeros(n, dtype=bool)
        self.temp = self.ambient_c.copy()
        self.fan = np.zeros(n)
        self.derate = np.ones(n)
        self.drift_at = np.full(n, np.inf)
        self.boot_at = float(now) - rng.uniform(3600.0, 30 * 86400.0, n)  # up for hours to weeks
        self.api_down_until = np.full(n, -np.inf)
        self.process_at = self.boot_at.copy()  # the mining process started with the board
        self.process_down_until = np.full(n, -np.inf)
        self.ths = np.zeros(n)
        self.true_w = np.zeros(n)
        self._settle_temperatures()

    # ------------------------------------------------------------------ helpers

    def _profile_x(self, profile: np.ndarray, sel: slice | np.ndarray) -> np.ndarray:
        return self._prof_x[self.model_idx[sel], profile]

    def _settle_temperatures(self) -> None:
        """Start every rig at its thermal equilibrium instead of at ambient.

        One exact step settles every rig that does not derate; the few that run hot
        iterate in small, stable steps (derating feeds back on temperature).
        """
        everyone = slice(None)
        d, s = self._load(everyone), self._static(everyone)
        self._outputs(d, s, d["t_last"])
        self._thermal(d, s, np.full(self.n, np.inf))
        self._outputs(d, s, d["t_last"])
        self._store(everyone, d)
        hot = np.nonzero(d["temp"] > s["hot_c"])[0]
        if hot.size:
            d, s = self._load(hot), self._static(hot)
            for _ in range(120):  # 12 time constants
                self._outputs(d, s, d["t_last"])
                self._thermal(d, s, s["tau_s"] * MAX_STEP_OF_TAU)
                self._protect(d, s)
            self._outputs(d, s, d["t_last"])
            self._store(hot, d)

    def _load(self, sel: slice | np.ndarray) -> dict[str, np.ndarray]:
        return {k: getattr(self, k)[sel].copy() for k in _DYNAMIC}

    def _store(self, sel: slice | np.ndarray, d: dict[str, np.ndarray]) -> None:
        for k in _DYNAMIC:
            getattr(self, k)[sel] = d[k]

    def _static(self, sel: slice | np.ndarray) -> dict[str, np.ndarray]:
        names = (
            "nameplate_ths", "nameplate_w", "base_w", "sleep_w", "boot_s", "ramp_up_s",
            "shed_s", "rise_c", "tau_s", "target_c", "hot_c", "danger_c", "min_derate",
            "fan_min", "fans", "quality", "ambient_c", "working", "fans_failed",
            "auto_restart", "model_idx",
        )  # fmt: skip
        return {k: getattr(self, k)[sel] for k in names}

    # ------------------------------------------------------------------ the model

    def _transitions(self, d: dict, s: dict, t: np.ndarray) -> None:
        """Discrete events due by time t, each at its exact time (chains resolve in order)."""
        st = d["state"]
        for _ in range(6):
            changed = False
            m = (st == _BOOTING) & (d["phase_end"] <= t)
            if m.any():
                pe = d["phase_end"][m]
                d["x_from"][m] = 0.0
                d["x_to"][m] = d["x_set"][m]
                d["phase_t0"][m] = pe
                d["phase_end"][m] = pe + s["ramp_up_s"][m]
                d["to_sleep"][m] = False
                st[m] = _RAMPING
                changed = True
            m = (st == _RAMPING) & (d["phase_end"] <= t)
            if m.any():
                down = m & d["to_sleep"]
                st[down] = _SLEEPING
                d["x_to"][down] = 0.0
                st[m & ~d["to_sleep"]] = _HASHING
                d["phase_end"][m] = np.inf
                d["to_sleep"][m] = False
                changed = True
            m = (st == _SLEEPING) & (d["drift_at"] <= t)
            if m.any():
                da = d["drift_at"][m]
                st[m] = _BOOTING
                d["phase_t0"][m] = da
                d["phase_end"][m] = da + s["boot_s"][m]
                d["boot_at"][m] = da
                d["drift_at"][m] = np.inf
                changed = True
            m = ((st == _RAMPING) | (st == _HASHING)) & (s["working"] <= 0.0)
            if m.any():
                st[m] = _FAILED
                d["x_to"][m] = 0.0
                d["phase_end"][m] = np.inf
                d["to_sleep"][m] = False
                changed = True
            m = (
                (st == _OVERHEATED)
                & s["auto_restart"]
                & (d["temp"] <= s["hot_c"] - RECOVER_BELOW_HOT_C)
            )
            if m.any():
                tt = np.broadcast_to(t, st.shape)[m]
                st[m] = _BOOTING
                d["phase_t0"][m] = tt
                d["phase_end"][m] = tt + s["boot_s"][m]
                d["boot_at"][m] = tt
                changed = True
            if not changed:
                break

    def _outputs(self, d: dict, s: dict, t: np.ndarray) -> None:
        """Clock, hashrate, power and fan speed at time t for the current states."""
        st = d["state"]
        ramping = st == _RAMPING
        span = np.maximum(d["phase_end"] - d["phase_t0"], 1e-9)
        frac = np.clip((t - d["phase_t0"]) / np.where(np.isfinite(span), span, 1.0), 0.0, 1.0)
        x_ramp = d["x_from"] + (d["x_to"] - d["x_from"]) * frac
        x = np.where(ramping, x_ramp, np.where(st == _HASHING, d["x_to"], 0.0))
        d["x_cur"] = x
        up = ramping | (st == _HASHING)
        x_eff = x * d["derate"]
        d["ths"] = np.where(up, s["nameplate_ths"] * x_eff * s["working"] * s["quality"], 0.0)
        w_up = s["base_w"] + (s["nameplate_w"] - s["base_w"]) * _g(x_eff) * s["working"]
        d["true_w"] = np.where(up, w_up, np.where(st == _SLEEPING, s["sleep_w"], s["base_w"]))
        heat = d["true_w"] / s["nameplate_w"]
        fans_ok = np.clip((s["fans"] - s["fans_failed"]) / s["fans"], 0.0, 1.0)
        need = heat * s["rise_c"] / np.maximum(s["target_c"] - s["ambient_c"], 1.0)
        ctrl = np.clip(
            (need / np.maximum(fans_ok, 1e-6)) ** (1.0 / FAN_EXPONENT), s["fan_min"], 1.0
        )
        ctrl = np.where(d["temp"] > s["hot_c"], 1.0, ctrl)
        # booting and overheated rigs run their fans flat out
        idle = np.where(st == _FAILED, s["fan_min"], 1.0)
        d["fan"] = np.where(up, ctrl, np.where(st == _SLEEPING, 0.0, idle))

    def _thermal(self, d: dict, s: dict, h: np.ndarray) -> None:
        """Relax chip temperature toward equilibrium over a step h; update the derate."""
        fans_ok = np.clip((s["fans"] - s["fans_failed"]) / s["fans"], 0.0, 1.0)
        cooling = np.maximum(fans_ok * d["fan"] ** FAN_EXPONENT, NATURAL_COOLING)
        t_eq = s["ambient_c"] + (d["true_w"] / s["nameplate_w"]) * s["rise_c"] / cooling
        d["temp"] = t_eq + (d["temp"] - t_eq) * np.exp(-h / s["tau_s"])
        over = np.clip((d["temp"] - s["hot_c"]) / (s["danger_c"] - s["hot_c"]), 0.0, 1.0)
        d["derate"] = 1.0 - over * (1.0 - s["min_derate"])

    def _protect(self, d: dict, s: dict) -> None:
        st = d["state"]
        m = ((st == _RAMPING) | (st == _HASHING)) & (d["temp"] >= s["danger_c"])
        if m.any():
            st[m] = _OVERHEATED
            d["x_to"][m] = 0.0
            d["phase_end"][m] = np.inf
            d["to_sleep"][m] = False

    # ------------------------------------------------------------------ public API

    def advance(
        self, now: float, sel: int | slice | Sequence[int] | np.ndarray = slice(None)
    ) -> None:
        """Bring the selected rigs (default: all) forward to simulated time `now`."""
        sel = _as_sel(sel)
        d = self._load(sel)
        s = self._static(sel)
        t0 = d["t_last"]
        dt = np.maximum(now - t0, 0.0)
        if dt.size == 0:
            return
        max_step = float(np.min(s["tau_s"])) * MAX_STEP_OF_TAU
        steps = max(1, math.ceil(float(dt.max()) / max_step))
        h = dt / steps
        for k in range(1, steps + 1):
            tk = t0 + h * k
            self._transitions(d, s, tk)
            self._outputs(d, s, tk)
            self._thermal(d, s, h)
            self._protect(d, s)
        self._transitions(d, s, t0 + dt)
        self._outputs(d, s, t0 + dt)
        d["t_last"] = np.maximum(t0, float(now))
        self._store(sel, d)

    def _command(self, sel: int | Sequence[int] | np.ndarray, now: float) -> np.ndarray:
        idx = _as_sel(sel)
        if isinstance(idx, slice):
            idx = np.arange(self.n)[idx]
        self.advance(now, idx)
        return idx

    def _refresh(self, idx: np.ndarray, now: float) -> None:
        d = self._load(idx)
        self._transitions(d, self._static(idx), np.full(idx.size, float(now)))
        self._outputs(d, self._static(idx), np.full(idx.size, float(now)))
        self._store(idx, d)

    def _ramp(
        self,
        idx: np.ndarray,
        now: float,
        x_to: np.ndarray,
        to_sleep: bool,
        up_s: float | np.ndarray | None = None,
        down_s: float | np.ndarray | None = None,
    ) -> None:
        """Start a ramp from the current clock to x_to (down: shed_s, up: ramp_up_s, unless
        the firmware ramps at its own pace: up_s, down_s)."""
        x_from = self.x_cur[idx]
        down = (x_to < x_from) | to_sleep
        up_t = self.ramp_up_s[idx] if up_s is None else np.broadcast_to(up_s, idx.shape)
        down_t = self.shed_s[idx] if down_s is None else np.broadcast_to(down_s, idx.shape)
        self.x_from[idx] = x_from
        self.x_to[idx] = x_to
        self.phase_t0[idx] = now
        self.phase_end[idx] = now + np.where(down, down_t, up_t)
        self.to_sleep[idx] = to_sleep
        self.state[idx] = _RAMPING

    def sleep(self, sel: int | Sequence[int] | np.ndarray, now: float) -> None:
        """Curtail: hashing rigs shed to sleep within shed_s; booting ones stop at once."""
        idx = self._command(sel, now)
        st = self.state[idx]
        up = idx[((st == _RAMPING) | (st == _HASHING)) & ~self.to_sleep[idx]]
        if up.size:
            self._ramp(up, now, np.zeros(up.size), to_sleep=True)
        other = idx[np.isin(st, [_BOOTING, _OVERHEATED, _FAILED])]
        self.state[other] = _SLEEPING
        self.phase_end[other] = np.inf
        self.x_to[other] = 0.0
        newly = np.concatenate([up, other])
        asleep_at = np.where(np.isfinite(self.phase_end[newly]), self.phase_end[newly], now)
        self.drift_at[newly] = np.where(
            np.isnan(self.drift_after[newly]), np.inf, asleep_at + self.drift_after[newly]
        )
        self._refresh(idx, now)

    def wake(self, sel: int | Sequence[int] | np.ndarray, now: float) -> None:
        """Wake from sleep: boot, then ramp to the configured profile."""
        idx = self._command(sel, now)
        st = self.state[idx]
        asleep = idx[st == _SLEEPING]
        self.state[asleep] = _BOOTING
        self.phase_t0[asleep] = now
        self.phase_end[asleep] = now + self.boot_s[asleep]
        self.boot_at[asleep] = now
        self.drift_at[asleep] = np.inf
        shedding = idx[(st == _RAMPING) & self.to_sleep[idx]]
        if shedding.size:
            self._ramp(shedding, now, self.x_set[shedding], False)
            self.drift_at[shedding] = np.inf
        self._refresh(idx, now)

    def set_profile(self, sel: int | Sequence[int] | np.ndarray, profile: int, now: float) -> None:
        """Select a profile; a hashing rig ramps to it, any other rig uses it when it next runs."""
        idx = self._command(sel, now)
        n_prof = np.sum(~np.isnan(self._prof_x[self.model_idx[idx]]), axis=1)
        if np.any((profile < 0) | (profile >= n_prof)):
            raise IndexError(f"profile index {profile} out of range")
        self.profile[idx] = profile
        self.x_set[idx] = self._profile_x(self.profile[idx], idx)
        st = self.state[idx]
        up = idx[((st == _RAMPING) | (st == _HASHING)) & ~self.to_sleep[idx]]
        if up.size:
            self._ramp(up, now, self.x_set[up], to_sleep=False)
        self._refresh(idx, now)

    def set_clock(
        self,
        sel: int | Sequence[int] | np.ndarray,
        x: float | np.ndarray,
        now: float,
        up_s: float | np.ndarray | None = None,
        down_s: float | np.ndarray | None = None,
    ) -> None:
        """Run at relative clock x (a watt target, a power limit, a work mode): a rig that
        is up ramps there, over up_s or down_s (default ramp_up_s, shed_s); any other rig
        settles there when it next runs. The profile index is left alone."""
        idx = self._command(sel, now)
        self.x_set[idx] = np.broadcast_to(np.asarray(x, dtype=np.float64), idx.shape)
        st = self.state[idx]
        up = ((st == _RAMPING) | (st == _HASHING)) & ~self.to_sleep[idx]
        if up.any():
            k = np.nonzero(up)[0]
            self._ramp(idx[k], now, self.x_set[idx[k]], False, _pick(up_s, k), _pick(down_s, k))
        self._refresh(idx, now)

    def restart_process(
        self, sel: int | Sequence[int] | np.ndarray, now: float, hashing: bool = True
    ) -> None:
        """The mining process restarts (a stock Antminer changing mode, btminer taking a
        new power limit, bosminer started): its API refuses connections for restart_api_s;
        with `hashing`, the boards stop at once and start again restart_s later, then ramp
        to the set clock; without, the rig sheds to sleep and stays there."""
        idx = self._command(sel, now)
        self.process_at[idx] = now
        self.process_down_until[idx] = now + self.restart_api_s[idx]
        if not hashing:
            self.sleep(idx, now)
            return
        self.state[idx] = _BOOTING
        self.phase_t0[idx] = now
        self.phase_end[idx] = now + self.restart_s[idx]
        self.to_sleep[idx] = False
        self.drift_at[idx] = np.inf
        self._refresh(idx, now)

    def stop_process(self, sel: int | Sequence[int] | np.ndarray, now: float) -> None:
        """The mining process stops until started again: its API refuses connections and
        the boards shed to sleep."""
        idx = self._command(sel, now)
        self.process_down_until[idx] = np.inf
        self.sleep(idx, now)

    def reboot(
        self, sel: int | Sequence[int] | np.ndarray, now: float, api_down: bool = True
    ) -> None:
        """Reboot: boot and ramp again; a control-board reboot also drops the API for api_down_s."""
        idx = self._command(sel, now)
        self.state[idx] = _BOOTING
        self.phase_t0[idx] = now
        self.phase_end[idx] = now + self.boot_s[idx]
        self.boot_at[idx] = now
        self.to_sleep[idx] = False
        self.drift_at[idx] = np.inf
        self.process_at[idx] = now
        self.process_down_until[idx] = -np.inf
        if api_down:
            self.api_down_until[idx] = now + self.api_down_s[idx]
        self._refresh(idx, now)

    # faults --------------------------------------------------------------------

    def set_failed_boards(
        self, sel: int | Sequence[int] | np.ndarray, boards: Sequence[int], now: float
    ) -> None:
        """Mark hashboards (1-based) dead; an empty list repairs them all."""
        idx = self._command(sel, now)
        mask = 0
        for b in boards:
            mask |= 1 << (int(b) - 1)
        self.failed_mask[idx] = mask
        nb = self.boards[idx]
        dead = np.zeros(idx.size)
        for b in range(int(nb.max())):
            dead += ((mask >> b) & 1) * (b < nb)
        self.working[idx] = (nb - dead) / nb
        self._refresh(idx, now)

    def set_fans_failed(
        self, sel: int | Sequence[int] | np.ndarray, count: int, now: float
    ) -> None:
        idx = self._command(sel, now)
        self.fans_failed[idx] = np.minimum(count, self.fans[idx])
        self._refresh(idx, now)

    def set_report_factor(
        self, sel: int | Sequence[int] | np.ndarray, factor: float, now: float
    ) -> None:
        """Meter mismatch: the API reports `factor` x the power the rig really draws."""
        idx = self._command(sel, now)
        self.report_factor[idx] = factor
        self._refresh(idx, now)

    def set_drift(
        self, sel: int | Sequence[int] | np.ndarray, after_s: float | None, now: float
    ) -> None:
        """A slept rig wakes itself after_s later (None: it stays asleep)."""
        idx = self._command(sel, now)
        self.drift_after[idx] = np.nan if after_s is None else float(after_s)
        asleep = idx[self.state[idx] == _SLEEPING]
        self.drift_at[asleep] = np.inf if after_s is None else now + float(after_s)
        self._refresh(idx, now)

    # readings ------------------------------------------------------------------

    @property
    def reported_w(self) -> np.ndarray:
        return self.true_w * self.report_factor

    def model_of(self, i: int) -> RigModel:
        return self.models[int(self.model_idx[i])]

    def reading(self, i: int, now: float) -> RigReading:
        """Rig i as of its last advance (call advance first for an up-to-date reading)."""
        model = self.model_of(i)
        nb = model.hashboards
        mask = int(self.failed_mask[i])
        fans_ok = int(self.fans[i] - self.fans_failed[i])
        fan = float(self.fan[i])
        prof = int(self.profile[i])
        return RigReading(
            state=RigState(int(self.state[i])),
            ths=float(self.ths[i]),
            true_w=float(self.true_w[i]),
            reported_w=float(self.true_w[i] * self.report_factor[i]),
            chip_temp_c=float(self.temp[i]),
            ambient_c=float(self.ambient_c[i]),
            fan_fraction=fan,
            fan_rpm=round(fan * float(self.fan_max_rpm[i])),
            fans_ok=fans_ok,
            derate=float(self.derate[i]),
            profile_index=prof,
            boards_ok=tuple(not (mask >> b) & 1 for b in range(nb)),
            uptime_s=max(0.0, now - float(self.boot_at[i])),
            expected_ths=model.profiles[prof].ths,
            api_down_until=float(self.api_down_until[i]),
            clock=float(self.x_cur[i]),
            clock_set=float(self.x_set[i]),
            process_uptime_s=max(0.0, now - float(self.process_at[i])),
            process_down_until=float(self.process_down_until[i]),
        )
