"""Stock Antminer rigs (Bitmain firmware; pyasic's AntminerModern backend: bmminer's API on
4028, the web CGI on 80 behind HTTP digest auth): work modes only.

    read          web.get_miner_conf() (the work mode: `bitmain-work-mode` 0 normal,
                  1 sleep, 3 low power), then one bmminer multicommand on 4028,
                  summary+stats, for hashrate, boards, fans and uptime (stock firmware
                  reports no power: the mode's watts from the catalog stand for it)
    low / normal  the config pyasic's send_config writes: MinerConfig.from_am_modern of
                  the rig's own config with the new mining mode, web.set_miner_conf()
    sleep / wake  the same with the sleep mode / the mode to wake into (normal if none)

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

    def _prepare(self, miner: Any) -> None:
        c = self.credentials
        if c.username is not None:
            miner.web.username = c.username
        if c.password is not None:
            miner.web.pwd = c.password

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
        reply = await miner.web.get_miner_conf()
        if not isinstance(reply, dict) or "bitmain-work-mode" not in reply:
            raise await self._classify(miner, "get_miner_conf", reply or {})
        return reply

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
        reply = await miner.web.set_miner_conf(cfg.as_am_modern())
        if not isinstance(reply, dict) or "stats" not in reply:
            raise await self._classify(miner, f"set_miner_conf {mode}", reply or {})
        if reply.get("stats") != "success":
            raise Refused(f"{self.host}: work mode {mode} refused: {str(reply)[:200]}")
        return mode

    async def _apply_once(self, target: Target) -> str:
        miner = await self.miner()
        if target.kind == TargetKind.SLEEP:
            return await self._set_mode(miner, "sleep")
        return await self._set_mode(miner, target.profile or "normal")
