"""Whatsminer's API v3 (newer btminer firmware, TCP 4433, framed JSON), as a pure core.

pyasic 0.79 switches a Whatsminer to API v3 when its firmware (get_version's fw_ver on
4028, which v3 firmware still serves) is dated after 2024-11 (BTMiner.__new__), then
talks BTMinerV3RPCAPI: `{"cmd": "get.device.info", "param": ...}` in, `{"code": 0,
"when": ..., "msg": ..., "desc": ...}` out; code 0 is success, -1 failure, -2 an unknown
command or parameter, -4 no permission. Writes (`set.*`) carry `ts`, `account` and
`token` = the first 8 characters of base64(sha256(cmd + password + salt + ts)), the salt
from `get.device.info` with param "salt". What pyasic reads:
  get.device.info             network.mac/hostname, system.api/fwversion/ledstatus,
                              power.fanspeed, miner.miner-sn/pcbsnN, hardware.boards,
                              error-code
  get.miner.status summary    hash-realtime and factory-hash (TH/s), power-realtime,
                              power-limit, fan-speed-in/out, elapsed,
                              environment-temperature
  get.miner.status edevs      per board hash-average (TH/s), effective-chips, chip temps
pyasic's stop/resume_mining and reboot expect msg "ok". set.miner.power_limit restarts
btminer like adjust_power_limit on v2 (this port and 4028 refuse meanwhile);
set.miner.power_percent acts at once; set.miner.service stop/start sleeps and wakes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rigsim.btminer import API_VERSION, NO_LIMIT, rig_salt
from rigsim.cgminer import small_int
from rigsim.physics import RigReading, RigState
from rigsim.readings import board_temps, chain_rates_gh, is_up, mac_address, serial_number

if TYPE_CHECKING:
    from rigsim.rig import FleetView

V3_API = "3.0.1"


def v3_token(cmd: str, password: str, salt: str, ts: int) -> str:
    """The token a v3 write carries (as the API v3 document and pyasic compute it)."""
    digest = hashlib.sha256(f"{cmd}{password}{salt}{ts}".encode()).digest()
    return base64.b64encode(digest).decode()[:8]


def reply(code: int, msg: Any, desc: str = "") -> dict[str, Any]:
    return {"code": code, "when": int(time.time()), "msg": msg, "desc": desc}


class BtminerV3Api:
    """The API v3 of every Whatsminer rig on v3 firmware (sync, pure)."""

    def __init__(self, fleet: FleetView) -> None:
        self.fleet = fleet
        self.settings = fleet.config.firmware.whatsminer
        self._reads: dict[str, Callable[[int, Any, RigReading], dict[str, Any]]] = {
            "get.device.info": self._device_info,
            "get.miner.status": self._miner_status,
            "get.miner.setting": self._miner_setting,
        }
        self._writes: dict[str, Callable[[int, Any], dict[str, Any]]] = {
            "set.miner.service": self._service,
            "set.miner.power_limit": self._power_limit,
            "set.miner.power_percent": self._power_percent,
            "set.system.reboot": self._reboot,
            "set.system.led": self._led,
        }

    def wire(self, i: int, body: bytes) -> bytes:
        """The JSON bytes of the reply to one frame's body."""
        return json.dumps(self.handle(i, body), separators=(",", ":")).encode()

    def handle(self, i: int, body: bytes | dict[str, Any]) -> dict[str, Any]:
        if isinstance(body, bytes):
            try:
                body = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return reply(-2, "invalid json")
        if not isinstance(body, dict) or not isinstance(body.get("cmd"), str):
            return reply(-2, "invalid command")
        cmd = body["cmd"]
        param = body.get("param")
        if cmd in self._reads:
            return self._reads[cmd](i, param, self.fleet.reading(i))
        if cmd not in self._writes:
            return reply(-2, "invalid command", cmd[:64])
        if not self._authorised(i, cmd, body):
            return reply(-4, "no permission", cmd)
        return self._writes[cmd](i, param)

    def _authorised(self, i: int, cmd: str, body: dict[str, Any]) -> bool:
        s = self.settings
        ts, token = body.get("ts"), body.get("token")
        if body.get("account") != s.v3_account or not isinstance(ts, int):
            return False
        want = v3_token(cmd, s.v3_password, rig_salt(self.fleet.rigs[i].address), ts)
        return isinstance(token, str) and token == want

    # ------------------------------------------------------------------ reads

    def _device_info(self, i: int, param: Any, r: RigReading) -> dict[str, Any]:
        rig = self.fleet.rigs[i]
        m = rig.model
        btminer = self.fleet.apis.btminer
        sections: dict[str, Any] = {
            "network": {
                "ip": rig.address,
                "proto": "dhcp",
                "netmask": "255.0.0.0",
                "dns": "",
                "mac": mac_address(rig.address),
                "gateway": "",
                "hostname": "WhatsMiner",
            },
            "miner": {
                "working": "false" if r.state == RigState.SLEEPING else "true",
                "type": m.whatsminer_type,
                "cointype": "BTC",
                "board-num": str(m.hashboards),
                "miner-sn": serial_number("HTM", rig.address),
                "power-limit-set": str(btminer.limit_w(i)),
                **{f"pcbsn{b}": serial_number("HEM", rig.address, b) for b in range(m.hashboards)},
            },
            "system": {
                "api": V3_API,
                "platform": "H616",
                "fwversion": btminer.firmware_version(i),
                "ledstatus": "auto" if self.fleet.firmware(i).led_auto else "manual",
            },
            "power": {
                "type": "P222B",
                "pin": round(r.reported_w),
                "fanspeed": r.fan_rpm,
                "vin": 230,
            },
            "hardware": {"boards": m.hashboards},
            "salt": rig_salt(rig.address),
            "error-code": [],
        }
        if param is None or param == "":
            return reply(0, sections, "get.device.info")
        if param not in sections:
            return reply(-2, f"invalid param: {str(param)[:32]}", "get.device.info")
        return reply(0, {param: sections[param]}, "get.device.info")

    def _summary(self, i: int, r: RigReading) -> dict[str, Any]:
        m = self.fleet.rigs[i].model
        ths = round(sum(chain_rates_gh(r)) / 1000.0, 3)
        chips = [chip for chip, _ in board_temps(r)]
        return {
            "elapsed": int(r.process_uptime_s),
            "bootup-time": int(r.uptime_s),
            "freq-avg": round(m.nominal_mhz * r.clock * r.derate),
            "target-freq": round(m.nominal_mhz * r.clock_set),
            "factory-hash": m.nameplate_ths,
            "hash-average": ths,
            "hash-1min": ths,
            "hash-15min": ths,
            "hash-realtime": ths,
            "power-rate": round(r.reported_w / ths, 2) if ths else 0.0,
            "power-5min": round(r.reported_w),
            "power-realtime": round(r.reported_w),
            "environment-temperature": round(r.ambient_c, 2),
            "board-temperature": [round(pcb, 2) for _, pcb in board_temps(r)],
            "chip-temp-min": round(min(chips) - 3.0, 2),
            "chip-temp-avg": round(sum(chips) / len(chips), 2),
            "chip-temp-max": round(max(chips) + 3.0, 2),
            "power-limit": self.fleet.apis.btminer.limit_w(i),
            "up-freq-finish": int(r.state == RigState.HASHING),
            "fan-speed-in": r.fan_rpm if r.fans_ok else 0,
            "fan-speed-out": r.fan_rpm if r.fans_ok > 1 else 0,
        }

    def _edevs(self, i: int, r: RigReading) -> list[dict[str, Any]]:
        m = self.fleet.rigs[i].model
        return [
            {
                "id": b,
                "slot": b,
                "hash-average": round(gh / 1000.0, 3),
                "factory-hash": round(m.nameplate_ths / m.hashboards, 3),
                "freq": round(m.nominal_mhz * r.clock * r.derate) if ok else 0,
                "effective-chips": m.chips_per_board if ok and is_up(r) else 0,
                "chip-temp-min": round(chip - 3.0, 2),
                "chip-temp-avg": round(chip, 2),
                "chip-temp-max": round(chip + 3.0, 2),
            }
            for b, (ok, gh, (chip, _)) in enumerate(
                zip(r.boards_ok, chain_rates_gh(r), board_temps(r), strict=True)
            )
        ]

    def _pools(self, i: int) -> list[dict[str, Any]]:
        pool = self.fleet.pool_status(i)
        return [
            {
                "id": 1,
                "url": pool.url,
                "status": "alive" if pool.alive else "dead",
                "account": pool.user,
                "stratum-active": pool.stratum_active,
                "reject-rate": 0.0,
            }
        ]

    def _miner_status(self, i: int, param: Any, r: RigReading) -> dict[str, Any]:
        if not isinstance(param, str) or not param:
            return reply(-3, "param item is null", "get.miner.status")
        parts = {
            "summary": lambda: self._summary(i, r),
            "edevs": lambda: self._edevs(i, r),
            "pools": lambda: self._pools(i),
        }
        out = {}
        for p in param.split("+")[:3]:
            if p.strip() not in parts:
                return reply(-2, f"invalid param: {p[:32]}", "get.miner.status")
            out[p.strip()] = parts[p.strip()]()
        return reply(0, out, "get.miner.status")

    def _miner_setting(self, i: int, param: Any, r: RigReading) -> dict[str, Any]:
        fw = self.fleet.firmware(i)
        return reply(
            0,
            {
                "power-limit": self.fleet.apis.btminer.limit_w(i),
                "power-percent": fw.power_pct,
                "power-mode": fw.power_mode.lower(),
                "api-version": API_VERSION,
            },
            "get.miner.setting",
        )

    # ------------------------------------------------------------------ writes

    def _service(self, i: int, param: Any) -> dict[str, Any]:
        if param == "stop":
            self.fleet.sleep(i)
        elif param == "start":
            self.fleet.wake(i)
        elif param == "restart":
            self.fleet.apis.btminer.apply_clock(i, restart=True)
        elif param not in ("enable", "disable"):
            return reply(-1, "invalid service action", "set.miner.service")
        return reply(0, "ok", "set.miner.service")

    def _power_limit(self, i: int, param: Any) -> dict[str, Any]:
        btminer = self.fleet.apis.btminer
        watts = btminer.limit_or_none(i, param)
        if watts is None:
            lo, hi = btminer.limit_range(i)
            return reply(-1, f"power limit must be {lo}..{hi} W", "set.miner.power_limit")
        self.fleet.firmware(i).power_limit_w = None if watts == NO_LIMIT else watts
        self.fleet.apis.btminer.apply_clock(i, restart=True)
        return reply(0, "ok", "set.miner.power_limit")

    def _power_percent(self, i: int, param: Any) -> dict[str, Any]:
        pct = small_int(param, max_digits=3)
        if pct is None or pct > 100:
            return reply(-1, "power percent must be 0..100", "set.miner.power_percent")
        self.fleet.firmware(i).power_pct = pct
        self.fleet.apis.btminer.apply_clock(i, restart=False)
        return reply(0, "ok", "set.miner.power_percent")

    def _reboot(self, i: int, param: Any) -> dict[str, Any]:
        self.fleet.apis.btminer.reboot(i)
        return reply(0, "ok", "set.system.reboot")

    def _led(self, i: int, param: Any) -> dict[str, Any]:
        self.fleet.firmware(i).led_auto = param == "auto"
        return reply(0, "ok", "set.system.led")
