"""Stock Antminer rigs (Bitmain firmware; pyasic's AntminerModern backend: bmminer's API on
4028, the web CGI on 80 behind HTTP digest auth): work modes only.

    read          web.get_miner_conf() (the work mode: `bitmain-work-mode` 0 normal,
                  1 sleep, 3 low power), then one bmminer multicommand on 4028,
                  summary+stats, for hashrate, boards, fans and uptime (stock firmware
                  reports no power: the mode's watts from the catalog stand for it)
    low / normal  the config pyasic's send_config writes: MinerConfig.from_am_modern of
                  the rig's own config with the new mining mode, web.set_miner_conf()
    sleep / wake  the same with the sleep mode / the mode to wake into (normal if none)

The web interface answers each request only after a digest challenge (two HTTP requests,
and pyasic opens a client for each), so the config is asked at most every
`seen_max_age_s` (DriverTimeouts): in between, a reading takes the work mode from the
config last read or written by the driver, and a mode change writes the config last read
with the new mode. A mode changed by someone else shows within `seen_max_age_s`.

Every mode change restarts bmminer: hashing stops at once (the draw falls to the control
board's), comes back in the new mode after the restart, and 4028 refuses meanwhile (its
readings then carry the mode from the web interface, with no hashrate).

pyasic 0.79 quirks handled here: its stop_mining / resume_mining / send_config never look
at the answer (a 401 reads as success), and its get_config turns a refusal into a default
config (which send_config would then write); the driver reads and writes the CGI itself
through pyasic's web client and checks each answer. A non-200 answer is asked once more
with the same digest login to tell a refusal of the credentials (401) from other errors.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fleetd.drivers import replies
from fleetd.drivers.backend import PyasicBackend, Refused
from fleetd.drivers.base import RigReading, Target, TargetKind
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.planner.fleet import RigState

WORK_MODES = {"0": "normal", "1": "sleep", "3": "low"}


class AntminerDriver(PyasicBackend):
    """One stock Antminer rig."""

    family = FirmwareKind.STOCK

    def __init__(self, host: str, **kw: Any) -> None:
        super().__init__(host, **kw)
        self._conf_seen: dict[str, Any] | None = None  # the rig's config, as last known
        self._conf_at = -math.inf  # monotonic time it was read or written

    def _prepare(self, miner: Any) -> None:
        self._web_login(miner)

    async def _classify(self, miner: Any, what: str, reply: dict[str, Any]) -> Refused:
        """Why the web interface did not answer `what` with JSON: credentials or other."""
        import httpx

        message = str(reply.get("message", "no answer"))[:200]
        web = miner.web
        try:
            async with httpx.AsyncClient(timeout=self.timeouts.read_s) as client:
                probe = await client.get(
                    f"http://{self.host}:{web.port}/cgi-bin/get_miner_conf.cgi",
                    auth=httpx.DigestAuth(web.username, web.pwd),
                )
        except httpx.HTTPError:
            return Refused(f"{self.host}: {what}: {message}")
        if probe.status_code == 401:
            return self.refused_credentials(f"web interface: HTTP 401 on {what}")
        return Refused(f"{self.host}: {what}: {message} (HTTP {probe.status_code})")

    async def _conf(self, miner: Any) -> dict[str, Any]:
        """The rig's config: as last known while at most `seen_max_age_s` old, else asked."""
        if (self._conf_seen is not None and not self.auth_error
                and time.monotonic() - self._conf_at <= self.timeouts.seen_max_age_s):
            return self._conf_seen
        self.requests += 1
        reply = await miner.web.get_miner_conf()
        if not isinstance(reply, dict) or "bitmain-work-mode" not in reply:
            raise await self._classify(miner, "get_miner_conf", reply or {})
        self._conf_seen, self._conf_at = reply, time.monotonic()
        self.credentials_ok()  # the web interface took them
        return reply

    async def _recheck_credentials(self, miner: Any) -> None:
        """Every reading asks the config while the credentials are refused: nothing more."""

    def _after_failure(self) -> None:
        self._conf_seen = None  # the rig's state is uncertain now: ask it next time

    async def _read_once(self, started: float, attempts: int) -> RigReading:
        miner = await self.miner()
        conf = await self._conf(miner)
        mode = WORK_MODES.get(str(conf.get("bitmain-work-mode")), "normal")
        try:
            self.requests += 1
            tel = replies.bmminer(await miner.rpc.multicommand("summary", "stats"))
        except Exception:  # bmminer restarting (4028 refuses): the web still says the mode
            tel = replies.Telemetry(ths=0.0)
        if mode == "sleep":
            state, status = RigState.SLEEPING, "Sleeping"
        elif tel.ths > 0:
            state, status = RigState.HASHING, "Hashing"
        else:
            state, status = RigState.BOOTING, "Restarting"  # bmminer restarting
        return self._reading(tel, state, started, attempts, status=status,
                             profile=None if mode == "sleep" else mode)  # fmt: skip

    async def _set_mode(self, miner: Any, mode: str) -> str:
        from pyasic.config import MinerConfig
        from pyasic.config.mining import MiningModeConfig

        conf = await self._conf(miner)
        if WORK_MODES.get(str(conf.get("bitmain-work-mode"))) == mode:
            return f"{mode} (already)"  # a change restarts bmminer: none needed
        cfg = MinerConfig.from_am_modern(conf)
        cfg.mining_mode = {
            "sleep": MiningModeConfig.sleep, "low": MiningModeConfig.low,
            "normal": MiningModeConfig.normal,
        }[mode]()  # fmt: skip
        self.requests += 1
        reply = await miner.web.set_miner_conf(cfg.as_am_modern())
        if not isinstance(reply, dict) or "stats" not in reply:
            self._conf_seen = None
            raise await self._classify(miner, f"set_miner_conf {mode}", reply or {})
        if reply.get("stats") != "success":
            self._conf_seen = None
            raise Refused(f"{self.host}: work mode {mode} refused: {str(reply)[:200]}")
        code = {v: k for k, v in WORK_MODES.items()}[mode]
        self._conf_seen, self._conf_at = conf | {"bitmain-work-mode": code}, time.monotonic()
        return mode

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        if target.kind == TargetKind.SLEEP:
            return await self._set_mode(miner, "sleep")
        return await self._set_mode(miner, target.profile or "normal")
