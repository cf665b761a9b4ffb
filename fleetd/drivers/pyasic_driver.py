"""The pyasic-backed driver: LuxOS, Braiins OS, stock Antminer and Whatsminer rigs.

LuxOS (the firmware the emulated fleet serves) is driven through pyasic 0.79's LuxOS
backend: telemetry in one multicommand over pyasic's RPC client, power through
`set_power_limit` (the highest profile with Watts <= W), a named profile through ATM off /
`profileset` / ATM on (the sequence pyasic uses), sleep and wake through
`stop_mining` / `resume_mining` (LuxOS `curtail`).

pyasic 0.79 quirks handled here:
- it caches the LuxOS session id (`miner.rpc.session_token`) and never logs on again,
  while the firmware drops a session idle for 60 s: the driver clears the cached token
  when it has not used it for `session_ttl_s`, and on any refused privileged command
  clears it and tries once more;
- its socket reads wait up to 100 s: every call here runs under asyncio.wait_for, with a
  bounded number of retries for replies that arrive late;
- high-level calls swallow errors and return False, so failures are reported by name
  from what is known (no profile fits, refused, timed out).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from pyasic.errors import APIError

from fleetd.drivers.base import (
    ApplyResult,
    DriverError,
    DriverTimeouts,
    RigReading,
    Target,
    TargetKind,
)
from fleetd.drivers.capabilities import Capabilities, FirmwareKind, capabilities, firmware_of
from fleetd.drivers.luxos import (
    READ_COMMANDS,
    LuxosReplyError,
    Profile,
    parse_profiles,
    parse_telemetry,
    pick_profile,
)
from fleetd.drivers.telemetry import GENERIC_READ, reading_from_miner_data

Clock = Callable[[], float]


class _Refused(Exception):
    """A command the rig did not carry out (message says which)."""


class PyasicDriver:
    """One rig behind pyasic. Cheap to create: nothing is sent until the first call."""

    def __init__(
        self,
        host: str,
        firmware: FirmwareKind | str | None = FirmwareKind.LUXOS,
        *,
        timeouts: DriverTimeouts | None = None,
        clock: Clock = time.time,
        miner: Any = None,
    ) -> None:
        self.host = host
        self.firmware: FirmwareKind | None = None if firmware is None else FirmwareKind(firmware)
        if self.firmware is None and miner is not None:  # e.g. handed over by discovery
            self.firmware = firmware_of(miner)
        self.timeouts = timeouts or DriverTimeouts()
        self.clock = clock
        self._miner = miner
        self._profiles: tuple[Profile, ...] | None = None
        self._session_used: float | None = None  # monotonic time of the last privileged use
        self.session_resets = 0

    def __repr__(self) -> str:
        return f"PyasicDriver({self.host}, {self.firmware})"

    @property
    def capabilities(self) -> Capabilities:
        if self.firmware is None:
            raise DriverError(f"{self.host}: firmware not identified yet (read it first)")
        return capabilities(self.firmware)

    @property
    def profiles(self) -> tuple[Profile, ...] | None:
        """The LuxOS profile ladder, once read (watts ascending)."""
        return self._profiles

    # ------------------------------------------------------------------ the pyasic object

    async def miner(self) -> Any:
        """The pyasic miner object: built directly for LuxOS, identified by pyasic's
        factory (get_miner) for the other firmware or when the firmware is not given."""
        if self._miner is not None:
            return self._miner
        if self.firmware == FirmwareKind.LUXOS:
            from pyasic.miners.backends.luxminer import LUXMiner

            self._miner = LUXMiner(self.host)
            return self._miner
        import pyasic

        miner = await asyncio.wait_for(pyasic.get_miner(self.host), self.timeouts.probe_s)
        if miner is None:
            raise DriverError(f"{self.host}: no miner answered pyasic's identification")
        found = firmware_of(miner)
        if found is None:
            raise DriverError(
                f"{self.host}: {type(miner).__name__} ({miner.firmware}) is not a firmware "
                "fleetd drives; expected LuxOS, Braiins OS, stock Antminer or Whatsminer"
            )
        if self.firmware is not None and found != self.firmware:
            raise DriverError(
                f"{self.host}: configured as {self.firmware.value} but pyasic identifies "
                f"{found.value} ({type(miner).__name__})"
            )
        self.firmware = found
        self._miner = miner
        return miner

    def reset_session(self) -> None:
        """Forget pyasic's cached LuxOS session id: the next privileged call logs on."""
        rpc = getattr(self._miner, "rpc", None)
        if rpc is not None and getattr(rpc, "session_token", None) is not None:
            rpc.session_token = None
            self.session_resets += 1
        self._session_used = None

    def _session_check(self) -> None:
        if self.firmware != FirmwareKind.LUXOS or self._session_used is None:
            return
        if time.monotonic() - self._session_used > self.timeouts.session_ttl_s:
            self.reset_session()

    # ------------------------------------------------------------------ telemetry

    async def read(self) -> RigReading:
        """Telemetry; never raises for a rig problem (ok=False, state UNREACHABLE)."""
        t = self.timeouts
        started = time.monotonic()
        error = ""
        attempts = 0
        for attempt in range(1 + t.read_retries):
            attempts += 1
            try:
                reading = await asyncio.wait_for(self._read_once(), t.read_s)
                return replace(
                    reading, latency_s=time.monotonic() - started, attempts=attempts
                )
            except TimeoutError:
                error = f"no reply within {t.read_s:g} s"
            except (OSError, LuxosReplyError, DriverError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # pyasic raises its own APIError and odd parse errors
                error = f"{type(exc).__name__}: {exc}"
            if attempt < t.read_retries:
                await asyncio.sleep(t.retry_backoff_s)
        return RigReading.unknown(
            self.host, error, self.clock(), attempts=attempts,
            latency_s=time.monotonic() - started,
        )  # fmt: skip

    async def _read_once(self) -> RigReading:
        miner = await self.miner()
        if self.firmware != FirmwareKind.LUXOS:
            return await self._read_generic(miner)
        commands = READ_COMMANDS + (("profiles",) if self._profiles is None else ())
        reply = await miner.rpc.send_command(
            "+".join(commands), ignore_errors=True, allow_warning=False
        )
        read_at = self.clock()
        if not reply:
            raise LuxosReplyError("empty reply (connection refused or closed)")
        if self._profiles is None:
            self._profiles = parse_profiles(reply)
        tel = parse_telemetry(reply)
        limit = None
        if tel.profile is not None:
            limit = next((p.watts for p in self._profiles if p.name == tel.profile), None)
        return RigReading(
            host=self.host, ok=True, state=tel.state, read_at=read_at,
            hashrate_ths=tel.hashrate_ths, watts=tel.watts, power_limit_w=limit,
            profile=tel.profile, temps_c=tel.temps_c, fans_rpm=tel.fans_rpm,
            status=tel.status, model=tel.model, uptime_s=tel.uptime_s,
        )  # fmt: skip

    async def _read_generic(self, miner: Any) -> RigReading:
        data = await miner.get_data(include=list(GENERIC_READ), allow_warning=False)
        return reading_from_miner_data(self.host, data, self.clock())

    # ------------------------------------------------------------------ commands

    def check(self, target: Target) -> None:
        """DriverError when this firmware cannot carry out `target` (before any I/O)."""
        caps = self.capabilities
        fw = caps.firmware.value
        if target.kind == TargetKind.WATTS and not caps.watt_limit:
            raise DriverError(f"{self.host}: {fw} firmware takes no watt limit; use a mode")
        name = target.profile
        if name is not None and not caps.profiles and name not in caps.modes:
            choices = ", ".join(caps.modes) or "none"
            raise DriverError(
                f"{self.host}: {fw} firmware has no profile {name!r}; modes: {choices}"
            )
        if target.kind == TargetKind.WAKE and target.watts is not None and not caps.watt_limit:
            raise DriverError(f"{self.host}: {fw} firmware takes no watt limit")

    async def apply(self, target: Target) -> ApplyResult:
        """Carry out `target`; never raises for a rig problem (ok=False, error named)."""
        t = self.timeouts
        started = time.monotonic()
        resets_before = self.session_resets
        attempts = 0
        error = ""
        try:
            await asyncio.wait_for(self.miner(), t.probe_s)
            self.check(target)
        except (TimeoutError, DriverError, OSError) as exc:
            error = str(exc) or "identification timed out"
            elapsed = time.monotonic() - started
            return ApplyResult(self.host, target, False, self.clock(), 0, elapsed, error)
        for attempt in range(1 + t.command_retries):
            attempts += 1
            try:
                detail = await asyncio.wait_for(self._apply_once(target), t.command_s)
                return ApplyResult(
                    self.host, target, True, self.clock(), attempts,
                    time.monotonic() - started, "", self.session_resets - resets_before, detail,
                )  # fmt: skip
            except TimeoutError:
                error = f"no answer within {t.command_s:g} s"
            except DriverError as exc:  # will not get better by retrying
                error = str(exc)
                break
            except (_Refused, OSError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # pyasic's APIError and friends
                error = f"{type(exc).__name__}: {exc}"
            if attempt < t.command_retries:
                await asyncio.sleep(t.retry_backoff_s)
        return ApplyResult(
            self.host, target, False, self.clock(), attempts, time.monotonic() - started,
            error, self.session_resets - resets_before,
        )  # fmt: skip

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        fw = self.firmware
        if fw == FirmwareKind.LUXOS:
            return await self._apply_luxos(miner, target)
        if fw == FirmwareKind.STOCK:
            return await self._apply_stock(miner, target)
        return await self._apply_watts_firmware(miner, target)

    async def _privileged(self, what: str, call: Callable[[], Awaitable[bool]]) -> None:
        """A LuxOS privileged call with the session rule: fresh token when idle too long,
        and on refusal one more try with a new session."""
        self._session_check()
        try:
            ok = await call()
            err = "" if ok else "refused"
        except APIError as exc:
            ok, err = False, str(exc)
        if not ok:
            self.reset_session()
            try:
                ok = await call()
            except APIError as exc:
                raise _Refused(f"{self.host}: {what}: {exc}") from None
            if not ok:
                raise _Refused(f"{self.host}: {what} refused ({err}, again with a new session)")
        self._session_used = time.monotonic()

    async def _luxos_profile(self, miner: Any, name: str) -> str:
        if self._profiles is None:
            self._profiles = parse_profiles(await miner.rpc.profiles())
        names = [p.name for p in self._profiles]
        if name not in names:
            raise DriverError(f"{self.host}: no LuxOS profile {name!r}; expected one of {names}")

        async def set_it() -> bool:
            atm = await miner.atm_enabled()
            if atm:
                await miner.rpc.atmset(enabled=False)
            result = await miner.rpc.profileset(name)
            if atm:
                await miner.rpc.atmset(enabled=True)
            return bool(result["PROFILE"][0]["Profile"] == name)

        await self._privileged(f"profileset {name}", set_it)
        return name

    async def _luxos_watts(self, miner: Any, watts: float) -> str:
        if self._profiles is None:
            self._profiles = parse_profiles(await miner.rpc.profiles())
        chosen = pick_profile(self._profiles, watts)
        if chosen is None:
            low = self._profiles[0]
            raise DriverError(
                f"{self.host}: no LuxOS profile draws <= {watts:g} W; the lowest is "
                f"{low.name} at {low.watts:g} W (sleep the rig instead)"
            )
        await self._privileged(
            f"set_power_limit {watts:g} W", lambda: miner.set_power_limit(math.floor(watts))
        )
        return chosen.name

    async def _apply_luxos(self, miner: Any, target: Target) -> str:
        if target.kind == TargetKind.SLEEP:
            await self._privileged("curtail sleep", miner.stop_mining)
            return "curtail sleep"
        detail = ""
        if target.profile is not None:
            detail = await self._luxos_profile(miner, target.profile)
        elif target.watts is not None:
            detail = await self._luxos_watts(miner, target.watts)
        if target.kind == TargetKind.WAKE:
            await self._privileged("curtail wakeup", miner.resume_mining)
            detail = f"wakeup {detail}".strip()
        return detail

    async def _apply_stock(self, miner: Any, target: Target) -> str:
        from pyasic.config.mining import MiningModeConfig

        if target.kind == TargetKind.SLEEP:
            if not await miner.stop_mining():
                raise _Refused(f"{self.host}: sleep mode refused")
            return "sleep"
        mode = target.profile or "normal"
        cfg = await miner.get_config()
        cfg.mining_mode = MiningModeConfig.low() if mode == "low" else MiningModeConfig.normal()
        await miner.send_config(cfg)
        return mode

    async def _apply_watts_firmware(self, miner: Any, target: Target) -> str:
        """Braiins OS and Whatsminer: a power limit in watts, pause/resume."""
        if target.kind == TargetKind.SLEEP:
            if not await miner.stop_mining():
                raise _Refused(f"{self.host}: stop mining refused")
            return "stop mining"
        detail = ""
        if target.watts is not None:
            if not await miner.set_power_limit(math.floor(target.watts)):
                raise _Refused(f"{self.host}: power limit {target.watts:g} W refused")
            detail = f"{math.floor(target.watts)} W"
        if target.kind == TargetKind.WAKE:
            if not await miner.resume_mining():
                raise _Refused(f"{self.host}: resume mining refused")
            detail = f"resume {detail}".strip()
        return detail
