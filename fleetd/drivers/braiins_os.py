"""Braiins OS+ rigs (pyasic's BOSer backend: the gRPC public API on 50051, bosminer's
cgminer API on 4028): a continuous power target in watts, with the tuner's minimum.

    read          one bosminer multicommand on 4028 through pyasic's RPC client:
                  summary+devs+tunerstatus+fans+temps (hashrate, the draw, the power
                  target; fleetd.drivers.replies), instead of get_data()'s gRPC calls
    watts W       web.set_power_target(W, SAVE_AND_FORCE_APPLY); the autotuner settles
                  on it over tens of seconds (the family's response_s)
    sleep / wake  web.pause_mining() / web.resume_mining() (a wake into W sets it first)

The tuner's constraints (web.get_constraints: min, max) are read once; a target below the
minimum is refused by name here (sleep the rig instead) rather than by the firmware, and
one a watt or two under it (fleetd's catalog rounds to whole watts) is raised to it.

pyasic 0.79 quirks handled here: its set_power_limit / stop_mining turn every refusal into
False, and a wrong password into an uncaught grpclib error from its login; the driver calls
the web API itself and names the refusal ("credentials refused" for UNAUTHENTICATED).
bosminer's 4028 needs no login: a rig refusing the credentials is known by its first
command, and read as failed from then on (counted at nameplate).

A paused rig and a booting one both read no hashrate and no running tuner on 4028: the
driver tells them apart by its own last command (pause: asleep; resume: booting); a rig
it has not commanded reads asleep.
"""

from __future__ import annotations

import math
from typing import Any

from fleetd.drivers import replies
from fleetd.drivers.backend import PyasicBackend, Refused
from fleetd.drivers.base import DriverError, RigReading, Target, TargetKind
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.planner.fleet import RigState

MIN_SLACK_W = 2.0  # a target this close under the tuner's minimum is raised to it
READ = "summary+devs+tunerstatus+fans+temps"  # one bosminer request per reading


def _unauthenticated(exc: BaseException) -> bool:
    """A gRPC UNAUTHENTICATED anywhere in the exception's chain."""
    from grpclib import GRPCError, Status

    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, GRPCError) and seen.status == Status.UNAUTHENTICATED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BraiinsDriver(PyasicBackend):
    """One Braiins OS+ rig."""

    family = FirmwareKind.BRAIINS

    def __init__(self, host: str, **kw: Any) -> None:
        super().__init__(host, **kw)
        self.limits: tuple[float, float] | None = None  # the tuner's (min, max) watts
        self.paused: bool | None = None  # our last command paused (True) or resumed it

    def _prepare(self, miner: Any) -> None:
        self._web_login(miner)

    async def _call(self, what: str, coro: Any) -> dict[str, Any]:
        """One gRPC call; refusals named (credentials, or the firmware's own error)."""
        try:
            reply = await coro
        except Exception as exc:
            if _unauthenticated(exc):
                raise self.refused_credentials(f"gRPC login: {what}") from None
            cause = exc.__cause__ or exc
            raise Refused(f"{self.host}: {what}: {type(cause).__name__}: {cause}") from None
        return reply if isinstance(reply, dict) else {}

    async def _recheck_credentials(self, miner: Any) -> None:
        """A login with the credentials (nothing else is asked)."""
        await self._call("login", miner.web.auth())
        self.credentials_ok()

    async def _read_once(self, started: float, attempts: int) -> RigReading:
        miner = await self.miner()
        self.requests += 1
        reply = await miner.rpc.send_command(READ, ignore_errors=True, allow_warning=False)
        if not reply:
            raise Refused(f"{self.host}: bosminer: no answer (stopped or restarting)")
        tel = replies.bosminer(reply)
        if tel.ths > 0:
            state = RigState.HASHING
        elif tel.running is False and self.paused is not False:
            state = RigState.SLEEPING
        else:
            state = RigState.BOOTING
        return self._reading(tel, state, started, attempts)

    async def _limits(self, miner: Any) -> tuple[float, float]:
        if self.limits is None:
            reply = await self._call("get_constraints", miner.web.get_constraints())
            try:
                pt = reply["tunerConstraints"]["powerTarget"]
                self.limits = (float(pt["min"]["watt"]), float(pt["max"]["watt"]))
            except (KeyError, TypeError, ValueError):
                raise Refused(f"{self.host}: get_constraints: no power target range") from None
        return self.limits

    async def _set_watts(self, miner: Any, watts: float) -> str:
        from pyasic.web.braiins_os.proto.braiins.bos.v1 import SaveAction

        lo, hi = await self._limits(miner)
        w = math.floor(watts)
        if w < lo:
            if lo - w > MIN_SLACK_W:
                raise DriverError(f"{self.host}: {watts:g} W is under the tuner's minimum "
                                  f"{lo:g} W (sleep the rig instead)")  # fmt: skip
            w = int(lo)
        w = min(w, int(hi))
        reply = await self._call(f"set_power_target {w} W", miner.web.set_power_target(
            w, save_action=SaveAction(SaveAction.SAVE_AND_FORCE_APPLY)))  # fmt: skip
        got = reply.get("powerTarget", {}).get("watt")
        if got != w:
            raise Refused(f"{self.host}: power target {w} W not taken (answer {got!r})")
        return f"{w} W"

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        if target.kind == TargetKind.SLEEP:
            await self._call("pause_mining", miner.web.pause_mining())
            self.paused = True
            return "pause mining"
        detail = ""
        if target.watts is not None:
            detail = await self._set_watts(miner, target.watts)
        if target.kind == TargetKind.WAKE:
            await self._call("resume_mining", miner.web.resume_mining())
            self.paused = False
            detail = f"resume {detail}".strip()
        return detail

