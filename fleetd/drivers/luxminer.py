"""LuxOS rigs (pyasic's luxminer backend): discrete profiles, curtail sleep/wakeup.

LuxOS is driven through pyasic 0.79's LuxOS
backend: telemetry in one multicommand over pyasic's RPC client; a named profile through
ATM off / `profileset` / ATM on, the sequence pyasic's `set_power_limit` uses; a watt
limit the same way, with the profile `set_power_limit` would pick (the highest with
Watts <= W); sleep and wake through `stop_mining` / `resume_mining` (LuxOS `curtail`).

Each LuxOS request is a TCP connection of its own, so a command costs what it asks. pyasic's
`set_power_limit` asks six (`get_config`, `atm`, `atmset`, `profileset`, `atmset`, plus
`session` and `logon` for an expired session); the driver asks only what it does not
already know:
- the ladder comes with the first reading (the profile to pick is computed here);
- the ATM switch and the running profile come from the driver's own latest reading
  (CONFIG IsAtmEnabled / Profile) while it is at most `seen_max_age_s` old, and from what
  the driver itself just set; a profile the rig already runs is not set again;
- a session known to be gone (never held, refused, or idle past the firmware's
  `session_expiry_s`) is opened with one `logon`, not `session` then `logon`.
A profile change is then `atmset`, `profileset`, `atmset` with a held session, one
request more for a new one; a sleep or wake is one (two).

pyasic 0.79 quirks handled here:
- it caches the LuxOS session id (`miner.rpc.session_token`) and never logs on again,
  while the firmware drops a session idle for 60 s: the driver clears the cached token
  when it has not used it for `session_ttl_s`, and on any refused privileged command
  clears it and tries once more;
- its socket reads wait up to 100 s: every call here runs under asyncio.wait_for, with a
  bounded number of retries for replies that arrive late;
- high-level calls swallow errors and return False, so failures are reported by name
  from what is known (no profile fits, refused, timed out);
- if a profile change fails between turning ATM off and on again, ATM stays off on the
  rig; the driver remembers and turns it back on with its next profile change there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyasic.errors import APIError

from fleetd.drivers.backend import PyasicBackend, Refused
from fleetd.drivers.base import DriverError, RigReading, Target, TargetKind
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.drivers.luxos import (
    READ_COMMANDS,
    LuxosReplyError,
    Profile,
    parse_profiles,
    parse_telemetry,
    pick_profile,
)


class LuxosDriver(PyasicBackend):
    """One LuxOS rig: profiles, curtail, sessions (see the module's docstring)."""

    family = FirmwareKind.LUXOS

    def __init__(self, host: str, **kw: Any) -> None:
        super().__init__(host, **kw)
        self._profiles: tuple[Profile, ...] | None = None
        self._session_used: float | None = None  # monotonic time of the last privileged use
        self._session_dead = False  # the firmware refused our session: log on afresh
        self.session_resets = 0
        # what the latest reading (or our own last command) showed: ATM switch, profile
        self._seen_at: float | None = None  # monotonic
        self._seen_atm: bool | None = None
        self._seen_profile: str | None = None
        self._atm_restore = False  # ATM turned off by us and not yet back on

    @property
    def profiles(self) -> tuple[Profile, ...] | None:
        """The LuxOS profile ladder, once read (watts ascending)."""
        return self._profiles

    async def _build(self) -> Any:
        """LuxOS is known: the pyasic object is built directly (no identification round)."""
        from pyasic.miners.backends.luxminer import LUXMiner

        return LUXMiner(self.host)

    def _resets(self) -> int:
        return self.session_resets

    def _after_failure(self) -> None:
        self._forget_seen()  # the rig's state is uncertain now: ask it next time

    def reset_session(self) -> None:
        """Forget pyasic's cached LuxOS session id: the next privileged call logs on."""
        rpc = getattr(self._miner, "rpc", None)
        if rpc is not None and getattr(rpc, "session_token", None) is not None:
            rpc.session_token = None
            self.session_resets += 1

    def _session_check(self) -> None:
        if self._session_used is None:
            return
        if time.monotonic() - self._session_used > self.timeouts.session_ttl_s:
            self.reset_session()

    def _session_gone(self) -> bool:
        """True when the firmware surely holds no session of ours: none was ever used, it
        was refused, or it has been idle past the firmware's limit (our idle time runs from
        the reply, so it never exceeds the firmware's)."""
        used = self._session_used
        if used is None or self._session_dead:
            return True
        return time.monotonic() - used > self.timeouts.session_expiry_s

    async def _ensure_session(self, miner: Any, what: str) -> None:
        """A session id in pyasic's cache before a privileged command. pyasic's auth()
        asks `session` and then `logon`: two requests for the usual case of a rig not
        commanded for minutes. Here a session surely gone is opened with `logon` alone;
        otherwise (or when the firmware says another session is live) the live one is
        asked for first, as pyasic does. No session at all is a refusal (without a token
        pyasic would send the command anyway, after two more requests of its own)."""
        rpc = miner.rpc
        if rpc.session_token is not None:
            return
        if self._session_gone():
            sid = await self._session_call(rpc.logon)
            if sid:
                rpc.session_token = sid
                self.logons += 1
                return
        sid = await self._session_call(rpc.session)
        if not sid:
            sid = await self._session_call(rpc.logon)
            self.logons += 1 if sid else 0
        if not sid:
            raise Refused(f"{self.host}: {what}: no LuxOS session (logon refused)")
        rpc.session_token = sid

    async def _session_call(self, call: Callable[[], Awaitable[dict[str, Any]]]) -> str:
        """The SessionID of a `session` / `logon` reply ("" when none or refused)."""
        self.requests += 1
        try:
            reply = await call()
            return str(reply["SESSION"][0]["SessionID"] or "")
        except (APIError, LookupError, TypeError):
            return ""

    async def _read_once(self, started: float, attempts: int) -> RigReading:
        miner = self._miner if self._miner is not None else await self.miner()
        commands = READ_COMMANDS + (("profiles",) if self._profiles is None else ())
        self.requests += 1
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
        self._seen(tel.atm_enabled, tel.profile)
        return RigReading(
            host=self.host, ok=True, state=tel.state, read_at=read_at,
            hashrate_ths=tel.hashrate_ths, watts=tel.watts, power_limit_w=limit,
            profile=tel.profile, temps_c=tel.temps_c, fans_rpm=tel.fans_rpm,
            status=tel.status, model=tel.model, uptime_s=tel.uptime_s,
            latency_s=time.monotonic() - started, attempts=attempts,
        )  # fmt: skip

    def _seen(self, atm: bool | None, profile: str | None) -> None:
        self._seen_at = time.monotonic()
        self._seen_atm, self._seen_profile = atm, profile

    def _forget_seen(self) -> None:
        self._seen_at = None

    def _seen_fresh(self) -> bool:
        at = self._seen_at
        return at is not None and time.monotonic() - at <= self.timeouts.seen_max_age_s

    # ------------------------------------------------------------------ commands

    async def _privileged(self, miner: Any, what: str, call: Callable[[], Awaitable[bool]]) -> None:
        """A LuxOS privileged call with the session rule: fresh token when idle too long,
        and on refusal one more try with a new session."""
        self._session_check()
        await self._ensure_session(miner, what)
        try:
            ok = await call()
            err = "" if ok else "refused"
        except APIError as exc:
            ok, err = False, str(exc)
        if not ok:
            self.reset_session()
            self._session_dead = True
            await self._ensure_session(miner, what)
            try:
                ok = await call()
            except APIError as exc:
                raise Refused(f"{self.host}: {what}: {exc}") from None
            if not ok:
                raise Refused(f"{self.host}: {what} refused ({err}, again with a new session)")
        self._session_used = time.monotonic()
        self._session_dead = False

    async def _ladder(self, miner: Any) -> tuple[Profile, ...]:
        if self._profiles is None:
            self.requests += 1
            self._profiles = parse_profiles(await miner.rpc.profiles())
        return self._profiles

    async def _atm_enabled(self, miner: Any) -> bool:
        """Whether ATM is on: off by our own hand (to be restored), as seen in a fresh
        reading, else asked (pyasic's atm_enabled; None, an unreadable answer, counts as
        off, as in pyasic's set_power_limit)."""
        if self._atm_restore:
            return True
        if self._seen_atm is not None and self._seen_fresh():
            return self._seen_atm
        self.requests += 1
        return bool(await miner.atm_enabled())

    async def _luxos_profile(self, miner: Any, name: str) -> str:
        profiles = await self._ladder(miner)
        if not any(p.name == name for p in profiles):
            names = [p.name for p in profiles]
            raise DriverError(f"{self.host}: no LuxOS profile {name!r}; expected one of {names}")
        if self._seen_profile == name and not self._atm_restore and self._seen_fresh():
            return name  # already running it (a wake into the profile it slept in)
        rpc = miner.rpc
        atm = False

        async def set_it() -> bool:
            nonlocal atm
            atm = await self._atm_enabled(miner)
            if atm:
                self.requests += 1
                await rpc.atmset(enabled=False)
                self._atm_restore = True
            self.requests += 1
            result = await rpc.profileset(name)
            if atm:
                self.requests += 1
                await rpc.atmset(enabled=True)
                self._atm_restore = False
            return bool(result["PROFILE"][0]["Profile"] == name)

        await self._privileged(miner, f"profileset {name}", set_it)
        self._seen(atm, name)
        return name

    async def _luxos_watts(self, miner: Any, watts: float) -> str:
        """What pyasic's set_power_limit(floor(W)) does, without its get_config: the
        ladder is known, so the profile it would pick is set directly."""
        profiles = await self._ladder(miner)
        chosen = pick_profile(profiles, math.floor(watts))
        if chosen is None:
            low = profiles[0]
            raise DriverError(
                f"{self.host}: no LuxOS profile draws <= {watts:g} W; the lowest is "
                f"{low.name} at {low.watts:g} W (sleep the rig instead)"
            )
        return await self._luxos_profile(miner, chosen.name)

    async def _curtail(self, miner: Any, what: str, call: Callable[[], Awaitable[bool]]) -> None:
        async def counted() -> bool:
            self.requests += 1
            return await call()

        await self._privileged(miner, what, counted)

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        if target.kind == TargetKind.SLEEP:
            await self._curtail(miner, "curtail sleep", miner.stop_mining)
            return "curtail sleep"
        detail = ""
        if target.profile is not None:
            detail = await self._luxos_profile(miner, target.profile)
        elif target.watts is not None:
            detail = await self._luxos_watts(miner, target.watts)
        if target.kind == TargetKind.WAKE:
            await self._curtail(miner, "curtail wakeup", miner.resume_mining)
            detail = f"wakeup {detail}".strip()
        return detail
