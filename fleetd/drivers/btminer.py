"""Whatsminer rigs (pyasic's btminer backends: API v2 on 4028 with encrypted writes,
BTMinerRPCAPI; API v3 on 4433 for newer firmware, BTMinerV3RPCAPI): a power percentage
or a power limit in watts.

    read           v2: rpc.multicommand(summary, devs, status) (two requests); v3:
                   get.miner.status summary+edevs, get.miner.setting (the percentage)
                   and get.device.info (whether it mines) (fleetd.drivers.replies)
    percent (default granularity)  W as 1 % steps of the power limit, floored:
                   v2 set_power_pct (send_privileged_command), v3 set.miner.power_percent;
                   it acts at once, btminer keeps running
    limit          W as the power limit: v2 rpc.adjust_power_limit(W), v3
                   rpc.set_miner_power_limit(W); btminer restarts to take it (hashing
                   stops at once, 4028 refuses for a while)
    sleep / wake   v2 rpc.power_off() / rpc.power_on(); v3 set.miner.service stop / start

A reading's `power_limit_w` is what the rig runs at under both: limit x percentage (the
watt target itself when the percentage is the one the driver set for it).
Credentials: API v2 writes are encrypted with the admin password, API v3 writes signed
with the super account's password (two secrets of the family's config).

pyasic 0.79 quirks handled here: its set_power_limit reports success for an empty reply
(a refused connection) and, on v3, without reading the answer; it refuses percentages of
100 (the way back to full power) and has no v3 percentage call. The driver sends the
commands through pyasic's RPC clients itself and checks every answer: v2 Code 135 "check
token err" and v3 code -4 are refusals of the credentials.
"""

from __future__ import annotations

import math
from typing import Any

from fleetd.drivers import replies
from fleetd.drivers.backend import PyasicBackend, Refused
from fleetd.drivers.base import DriverError, RigReading, Target, TargetKind
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.drivers.control import Granularity
from fleetd.planner.fleet import RigState

V3_NO_PERMISSION = -4


def _is_v3(miner: Any) -> bool:
    from pyasic.rpc.btminer import BTMinerV3RPCAPI

    return isinstance(miner.rpc, BTMinerV3RPCAPI)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip().strip("'"))
    except (TypeError, ValueError):
        return None


class WhatsminerDriver(PyasicBackend):
    """One Whatsminer rig, API v2 or v3 as pyasic picks it."""

    family = FirmwareKind.WHATSMINER

    def __init__(self, host: str, **kw: Any) -> None:
        super().__init__(host, **kw)
        if self.control.granularity not in (Granularity.PERCENT, Granularity.LIMIT):
            raise DriverError(f"{host}: a Whatsminer takes a percentage or a power limit, "
                              f"not {self.control.granularity.value}")  # fmt: skip
        self.limit_w: float | None = None  # the power limit, as last read
        self.pct: int | None = None  # the percentage in force, as last read or set
        # the watt target the driver last carried out as a percentage, and that percentage:
        # a reading at that percentage reports the target (not the 1 % step under it), so
        # the plan does not ask for the same target again
        self._asked: tuple[float, int] | None = None

    def _prepare(self, miner: Any) -> None:
        c = self.credentials
        password = c.password_v3 if _is_v3(miner) else c.password
        if password is not None:
            miner.rpc.pwd = password

    # ------------------------------------------------------------------ telemetry

    async def _read_once(self, started: float, attempts: int) -> RigReading:
        miner = await self.miner()
        rpc = miner.rpc
        if _is_v3(miner):
            self.requests += 3
            tel = replies.btminer_v3(
                await rpc.send_command("get.miner.status", parameters="summary+edevs"),
                await rpc.get_miner_setting(), await rpc.get_device_info(),
            )  # fmt: skip
        else:
            self.requests += 2
            reply = await rpc.multicommand("summary", "devs", "status")
            if not reply or set(reply) <= {"multicommand"}:
                raise Refused(f"{self.host}: btminer: no answer (restarting?)")
            tel = replies.btminer_v2(reply)
        if tel.limit_w is not None:
            self.limit_w = tel.limit_w
        if tel.pct is not None:
            self.pct = tel.pct
        limit = self.limit_w
        if limit is not None and self.pct is not None:
            limit = limit * self.pct / 100.0
            if self._asked is not None and self._asked[1] == self.pct:
                limit = self._asked[0]
        if tel.ths > 0:
            state = RigState.HASHING
        elif tel.running is False:
            state = RigState.SLEEPING
        else:
            state = RigState.BOOTING
        return self._reading(tel, state, started, attempts, limit_w=limit)

    # ------------------------------------------------------------------ commands

    async def _v2(self, miner: Any, what: str, command: str, **params: Any) -> None:
        from pyasic.errors import APIError

        try:
            reply = await miner.rpc.send_privileged_command(command, **params)
        except APIError as exc:
            text = str(exc)
            if "check token" in text or "Code 135" in text:
                raise self.refused_credentials(f"API v2: {what}") from None
            raise Refused(f"{self.host}: {what}: {text[:200]}") from None
        if not isinstance(reply, dict) or not reply:
            raise Refused(f"{self.host}: {what}: no answer (btminer restarting?)")
        if str(reply.get("STATUS", "S")) not in ("S", "I"):
            raise Refused(f"{self.host}: {what}: {str(reply.get('Msg', reply))[:200]}")

    async def _v3(self, miner: Any, what: str, command: str, param: Any) -> None:
        reply = await miner.rpc.send_command(command, parameters=param)
        if not isinstance(reply, dict) or not reply:
            raise Refused(f"{self.host}: {what}: no answer (btminer restarting?)")
        code = _int(reply.get("code"))
        if code == V3_NO_PERMISSION:
            raise self.refused_credentials(f"API v3: {what}")
        if code != 0:
            raise Refused(f"{self.host}: {what}: {str(reply.get('msg', reply))[:200]}")

    async def _limit(self, miner: Any) -> float:
        if self.limit_w is None:
            data = await miner.get_data(include=["wattage_limit"], allow_warning=False)
            if data.wattage_limit is None:
                raise Refused(f"{self.host}: power limit unknown (no reading)")
            self.limit_w = float(data.wattage_limit)
        return self.limit_w

    async def _set_watts(self, miner: Any, watts: float) -> str:
        v3 = _is_v3(miner)
        if self.control.granularity == Granularity.LIMIT:
            w = math.floor(watts)
            if v3:
                await self._v3(miner, f"power limit {w} W", "set.miner.power_limit", w)
            else:
                await self._v2(miner, f"power limit {w} W", "adjust_power_limit",
                               power_limit=str(w))  # fmt: skip
            self.limit_w = float(w)
            self._asked = None
            return f"limit {w} W"
        limit = await self._limit(miner)
        pct = max(1, min(100, math.floor(100.0 * watts / limit + 1e-9)))
        if v3:
            await self._v3(miner, f"power percent {pct}", "set.miner.power_percent", pct)
        else:
            await self._v2(miner, f"power percent {pct}", "set_power_pct", percent=str(pct))
        self.pct = pct
        self._asked = (float(math.floor(watts)), pct)
        return f"{pct} % of {limit:g} W"

    async def _service(self, miner: Any, on: bool) -> None:
        if _is_v3(miner):
            await self._v3(miner, "start" if on else "stop", "set.miner.service",
                           "start" if on else "stop")  # fmt: skip
        elif on:
            await self._v2(miner, "power on", "power_on")
        else:
            await self._v2(miner, "power off", "power_off", respbefore="true")

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        if target.kind == TargetKind.SLEEP:
            await self._service(miner, False)
            return "power off"
        detail = ""
        if target.watts is not None:
            detail = await self._set_watts(miner, target.watts)
        if target.kind == TargetKind.WAKE:
            await self._service(miner, True)
            detail = f"power on {detail}".strip()
        return detail
