"""The LuxOS (cgminer-style) API of one rig, as replies built from its physics. No sockets.

A request is `{"command": "summary", "parameter": "a,b"}` (or cgminer's plain-text
`summary|a,b`). `a+b` runs several read commands and answers `{"a": [reply], "b": [reply]}`.
Every reply carries STATUS[0] with STATUS "S" (or "E" plus Msg on error), and a Description
naming LUXminer: pyasic's factory recognises LuxOS by the string "LUXMINER" in a reply.

Fields follow what pyasic 0.79 reads (pyasic/miners/backends/luxminer.py):
  version   VERSION[0].Type -> model, .Miner -> firmware version, .API
  stats     STATS[1]: chain_rateN (GH/s), chain_acnN, temp_chipN / temp_pcbN ("a-b-c-d":
            pyasic averages items 0 and 3 for the chip, 1 and 2 for the board, ignoring
            zeros), total_rateideal + rate_unit, Elapsed. pyasic takes the hashrate only
            from the hashboards, so the chain rates sum exactly to the rig's hashrate.
  power     POWER[0].Watts          config   CONFIG[0].Profile / RedLed / MACAddr
  profiles  PROFILES[]: Profile Name, Watts, Hashrate (TH/s), Frequency, Voltage, IsTuned
  fans      FANS[].RPM              pools    POOLS[] with GROUP, groups GROUPS[]
  tempctrl  TEMPCTRL[0]             atm      ATM[0].Enabled
Privileged commands take the session id as their first parameter: curtail sid,sleep|wakeup;
profileset sid,<profile>; atmset sid,enabled=false,...; rebootdevice sid; resetminer sid;
ledset sid,red,on|off|blink; logoff sid.
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rigsim.cgminer import (
    CgminerApi,
    CommandError,
    board_stats,
    dev_rows,
    devdetails_rows,
    share_fields,
    status_block,
)
from rigsim.models import RigModel
from rigsim.physics import RigReading, RigState
from rigsim.readings import board_temps, chain_rates_gh, mac_address

if TYPE_CHECKING:
    from rigsim.rig import FleetView

FIRMWARE = "2024.9.20.205307-rigsim"
DESCRIPTION = f"LUXminer {FIRMWARE}"
API_VERSION = "3.7"

PRIVILEGED = frozenset(
    {"atmset", "curtail", "profileset", "rebootdevice", "resetminer", "ledset", "logoff",
     "fanset", "frequencyset", "voltageset", "reboot"}
)  # fmt: skip


def _status(code: int, msg: str, ok: bool = True) -> list[dict[str, Any]]:
    return status_block(code, msg, DESCRIPTION, ok)


def _reply(code: int, msg: str, **sections: Any) -> dict[str, Any]:
    """A successful answer: its STATUS, then its sections in the order given."""
    return {"STATUS": _status(code, msg), **sections}


class LuxosHandler(CgminerApi):
    """Answers LuxOS API requests for any rig of a fleet."""

    privileged = PRIVILEGED
    constant = MappingProxyType({
        "groups": (7, "1 Group(s)", {"GROUPS": [
            {"GROUP": 0, "Name": "Default", "Quota": 1, "Strategy": "Failover"}]}),
        "coin": (78, "LUXminer coin", {"COIN": [
            {"Hash Method": "sha256", "Current Block Time": 0.0, "Current Block Hash": "",
             "LP": False, "Network Difficulty": 0.0}]}),
    })  # fmt: skip

    def __init__(self, fleet: FleetView) -> None:
        super().__init__(fleet)
        self._profile_rows: dict[str, list[dict[str, Any]]] = {}

    def description(self, i: int) -> str:
        return DESCRIPTION

    def _authorise(self, i: int, command: str, params: list[str], snow: float) -> list[str]:
        sid = params[0] if params else ""
        if not self.fleet.sessions.use(i, sid, snow):
            raise CommandError(45, "Invalid session id")
        return params[1:]

    # ------------------------------------------------------------------ pieces

    def _rates_gh(self, i: int, r: RigReading) -> list[float]:
        return chain_rates_gh(r)

    def _board_temps(self, r: RigReading) -> list[tuple[float, float]]:
        return board_temps(r)

    def _model(self, i: int) -> RigModel:
        return self.fleet.rigs[i].model

    # ------------------------------------------------------------------ read commands

    def _cmd_version(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return _reply(
            22, "LUXminer versions",
            VERSION=[
                {
                    "API": API_VERSION,
                    "CompileTime": "Fri Sep 20 20:53:07 UTC 2024",
                    "LUXminer": FIRMWARE,
                    "Miner": FIRMWARE,
                    "Type": self._model(i).luxos_type,
                }
            ],
        )

    def _cmd_summary(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        ghs = sum(self._rates_gh(i, r))
        pool = self.fleet.pool_status(i)
        return _reply(
            11, "Summary",
            SUMMARY=[
                {
                    "Elapsed": int(r.uptime_s),
                    "GHS 5s": round(ghs, 2),
                    "GHS av": round(ghs, 2),
                    "GHS 30m": round(ghs, 2),
                    **share_fields(pool),
                    "Last getwork": int(time.time()),
                    "Device Hardware%": 0.0,
                    "Pool Rejected%": 0.0,
                    "Pool Stale%": 0.0,
                }
            ],
        )

    def _cmd_stats(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        prof = model.profiles[r.profile_index]
        up = r.state in (RigState.RAMPING, RigState.HASHING)
        mhz = round(prof.mhz * r.derate) if up else 0
        st = board_stats(model, r, mhz, prof.ths * 1000.0, r.uptime_s, "BTM_SOC0")
        return _reply(
            70, "LUXminer stats",
            STATS=[
                {
                    "BMMiner": FIRMWARE,
                    "CompileTime": "Fri Sep 20 20:53:07 UTC 2024",
                    "Miner": FIRMWARE,
                    "Type": model.luxos_type,
                },
                st,
            ],
        )

    _cmd_estats = _cmd_stats

    def _cmd_devs(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        extra = {"Accepted": 0, "Rejected": 0, "Hardware Errors": 0}
        devs = dev_rows(r, "BTM_SOC", **extra, **{"Device Elapsed": int(r.uptime_s)})
        return _reply(9, f"{len(devs)} ASC(s)", DEVS=devs)

    _cmd_edevs = _cmd_devs

    def _cmd_devdetails(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        details = devdetails_rows(model, "BTM_SOC", "bitmain", model.luxos_type)
        return _reply(69, "Device Details", DEVDETAILS=details)

    def _cmd_pools(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        pool = self.fleet.pool_status(i)
        host = pool.url.split("://")[-1]
        return _reply(
            7, "1 Pool(s)",
            POOLS=[
                {
                    "POOL": 0,
                    "URL": pool.url,
                    "Status": "Alive" if pool.alive else "Dead",
                    "Priority": 0,
                    "Quota": 1,
                    "Long Poll": "N",
                    "Getworks": 0,
                    "Accepted": pool.accepted,
                    "Rejected": pool.rejected,
                    "Works": 0,
                    "Discarded": 0,
                    "Stale": pool.stale,
                    "Get Failures": 0,
                    "Remote Failures": 0,
                    "User": pool.user,
                    "Last Share Time": int(pool.last_share_time),
                    "Diff1 Shares": 0,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": pool.difficulty_accepted,
                    "Difficulty Rejected": 0.0,
                    "Difficulty Stale": 0.0,
                    "Last Share Difficulty": 0.0,
                    "Work Difficulty": 0.0,
                    "Has Stratum": True,
                    "Stratum Active": pool.stratum_active,
                    "Stratum URL": host,
                    "Stratum Difficulty": 0.0,
                    "Has GBT": False,
                    "Best Share": 0,
                    "Pool Rejected%": 0.0,
                    "Pool Stale%": 0.0,
                    "Bad Work": 0,
                    "Current Block Height": 0,
                    "Current Block Version": 0,
                    "GROUP": 0,
                }
            ],
        )

    def _cmd_power(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return _reply(
            336, "Power",
            POWER=[{"PSU": True, "Watts": round(r.reported_w)}],
        )

    def _cmd_config(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        fw = self.fleet.firmware(i)
        rig = self.fleet.rigs[i]
        return _reply(
            33, "LUXminer config",
            CONFIG=[
                {
                    "ASC Count": model.hashboards,
                    "PGA Count": 0,
                    "Pool Count": 1,
                    "Strategy": "Failover",
                    "Log Interval": 5,
                    "Device Code": "",
                    "OS": "Linux",
                    "Hotplug": "None",
                    "ConfigFile": "/config/luxminer.toml",
                    "MACAddr": mac_address(rig.address),
                    "Model": model.luxos_type,
                    "Profile": model.profiles[r.profile_index].name,
                    "RedLed": fw.red_led,
                    "IsAtmEnabled": fw.atm_enabled,
                    "CurtailMode": "Sleep" if r.state == RigState.SLEEPING else "None",
                    "SystemStatus": r.state.name.capitalize(),
                }
            ],
        )

    @staticmethod
    def _profile_row(prof: Any) -> dict[str, Any]:
        return {
            "Profile Name": prof.name,
            "Frequency": prof.mhz,
            "Hashrate": prof.ths,
            "IsDynamic": False,
            "IsTuned": False,
            "Step": str(prof.step),
            "Voltage": prof.voltage,
            "Watts": prof.watts,
        }

    def _cmd_profiles(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        rows = self._profile_rows.get(model.key)
        if rows is None:  # a model's ladder never changes: build its rows once
            rows = self._profile_rows[model.key] = [self._profile_row(pr) for pr in model.profiles]
        return _reply(330, "Profiles", PROFILES=rows)

    def _cmd_profileget(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        name = p[0] if p else model.profiles[r.profile_index].name
        try:
            prof = model.profile(name)
        except KeyError:
            raise CommandError(331, f"Unknown profile '{name}'") from None
        return _reply(332, "Profile", PROFILE=[self._profile_row(prof)])

    def _cmd_fans(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self._model(i)
        fans = [
            {
                "ID": k,
                "RPM": r.fan_rpm if k < r.fans_ok else 0,
                "Speed": round(r.fan_fraction * 100) if k < r.fans_ok else 0,
            }
            for k in range(model.fans)
        ]
        return _reply(
            202, f"{model.fans} Fan(s)",
            FANS=fans,
            FANCTRL=[{"MinFans": model.fans, "Speed": -1, "PowerOffSpeed": 0}],
        )

    def _cmd_temps(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        rows = []
        for b, (chip, pcb) in enumerate(self._board_temps(r)):
            rows.append(
                {
                    "TEMPS": b,
                    "ID": b,
                    "Board": round(pcb, 1),
                    "Chip": round(chip, 1),
                    "TopLeft": round(chip - 3, 1),
                    "TopRight": round(chip - 1, 1),
                    "BottomLeft": round(chip + 1, 1),
                    "BottomRight": round(chip + 3, 1),
                }
            )
        return _reply(201, f"{len(rows)} Temp(s)", TEMPS=rows)

    def _cmd_tempctrl(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self._model(i)
        return _reply(
            203, "Temperature control",
            TEMPCTRL=[
                {"Mode": "Auto", "Target": m.target_c, "Hot": m.hot_c, "Dangerous": m.danger_c}
            ],
        )

    def _cmd_atm(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self._model(i)
        return _reply(
            339, "ATM configuration values",
            ATM=[
                {
                    "Enabled": self.fleet.firmware(i).atm_enabled,
                    "MaxProfile": m.profiles[-1].name,
                    "MinProfile": m.profiles[0].name,
                    "PostRampMinutes": 15,
                    "StartupMinutes": 15,
                    "TempWindow": 7,
                }
            ],
        )

    def _cmd_check(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        exists = bool(p) and p[0] in self._commands
        return _reply(
            72, "Check command",
            CHECK=[{"Exists": "Y" if exists else "N", "Access": "Y" if exists else "N"}],
        )

    # ------------------------------------------------------------------ sessions

    def _cmd_session(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return _reply(
            340, "Session",
            SESSION=[{"SessionID": self.fleet.sessions.current(i, s)}],
        )

    def _cmd_logon(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        sid = self.fleet.sessions.logon(i, s)
        if sid is None:
            raise CommandError(341, "Another session is active")
        return _reply(342, "Session created", SESSION=[{"SessionID": sid}])

    def _cmd_logoff(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        # the session was checked (and refreshed) by _one; close it
        self.fleet.sessions.drop(i)
        return _reply(343, "Session closed")

    # ------------------------------------------------------------------ privileged

    def _cmd_curtail(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        mode = p[0].lower() if p else ""
        if mode == "sleep":
            self.fleet.sleep(i)
        elif mode == "wakeup":
            self.fleet.wake(i)
        else:
            raise CommandError(344, f"Invalid curtail mode '{mode}'; expected sleep or wakeup")
        return _reply(
            345, f"Curtail {mode}",
            CURTAIL=[{"Mode": mode, "Result": "success"}],
        )

    def _cmd_profileset(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        if not p:
            raise CommandError(346, "Missing profile name")
        try:
            prof = self._model(i).profile(p[0])
        except KeyError:
            raise CommandError(331, f"Unknown profile '{p[0]}'") from None
        self.fleet.set_profile(i, prof.name)
        return _reply(
            347, "Profile set",
            PROFILE=[{"Profile": prof.name, "Result": "success"}],
        )

    def _cmd_atmset(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        fw = self.fleet.firmware(i)
        for item in p:
            key, _, value = item.partition("=")
            key = key.strip().lower()
            if key == "enabled":
                if value.lower() not in ("true", "false"):
                    raise CommandError(348, f"Invalid value '{value}' for enabled")
                fw.atm_enabled = value.lower() == "true"
            elif key not in (
                "startup_minutes",
                "post_ramp_minutes",
                "temp_window",
                "min_profile",
                "max_profile",
                "prevent_oc",
            ):
                raise CommandError(348, f"Unknown ATM setting '{key}'")
        return _reply(340, "Advanced Thermal Management configuration updated")

    def _cmd_rebootdevice(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        self.fleet.reboot(i)
        return _reply(349, "Device reboot scheduled")

    def _cmd_resetminer(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        if r.state != RigState.SLEEPING:
            self.fleet.reboot(i, api_down=False)
        return _reply(350, "Miner reset")

    def _cmd_ledset(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        if len(p) != 2 or p[0] != "red" or p[1] not in ("on", "off", "blink"):
            raise CommandError(351, "Expected ledset <sid>,red,on|off|blink")
        self.fleet.firmware(i).red_led = p[1]
        return _reply(352, "LED set")
