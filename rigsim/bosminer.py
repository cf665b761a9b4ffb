"""bosminer's cgminer-compatible API (Braiins OS+, TCP 4028), as replies from physics.

Read-only here, as pyasic's BOSer uses it (pyasic/miners/backends/braiins_os.py):
  version      VERSION[0].API; "BOSminer+" in the reply is how pyasic's factory knows BOS
  devdetails   DEVDETAILS[0].Model ("Antminer S19j Pro"): the factory's model
  summary      SUMMARY[0]["MHS 1m"] (the hashrate pyasic reports), Elapsed (uptime)
  devs         DEVS[]["MHS 5s"] (pyasic's is_mining: any board hashing)
  tunerstatus  TUNERSTATUS[0].TunerChainStatus[]: Status "Stable" or tuning; anything
               else is an error to pyasic
  pools, stats, fans, temps
Writes go through the gRPC API (rigsim.braiins). While bosminer is stopped or restarting
this port refuses connections (the TCP server closes the rig's listener).
"""

from __future__ import annotations

from typing import Any

from rigsim.cgminer import CgminerApi, dev_rows, pool_row, share_fields
from rigsim.physics import RigReading, RigState
from rigsim.readings import board_temps, is_up

BOSMINER_VERSION = "1.2.0-rigsim"
API_VERSION = "3.7"


class BosminerApi(CgminerApi):
    """bosminer's API for every Braiins OS rig of a fleet."""

    def description(self, i: int) -> str:
        return f"BOSminer+ {BOSMINER_VERSION}"

    def _mhs(self, r: RigReading) -> float:
        return round(r.ths * 1e6, 3)

    def _cmd_version(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return {
            "STATUS": self.status(i, 22, "BOSminer+ versions"),
            "VERSION": [{"BOSminer+": BOSMINER_VERSION, "API": API_VERSION}],
        }

    def _cmd_devdetails(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self.fleet.rigs[i].model
        return {
            "STATUS": self.status(i, 69, "Device Details"),
            "DEVDETAILS": [
                {
                    "DEVDETAILS": b,
                    "Name": "",
                    "ID": b,
                    "Driver": "bosminer",
                    "Kernel": "",
                    "Model": model.luxos_type,
                    "Device Path": "",
                    "Chips": model.chips_per_board,
                }
                for b in range(model.hashboards)
            ],
        }

    def _cmd_summary(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        pool = self.fleet.pool_status(i)
        mhs = self._mhs(r)
        return {
            "STATUS": self.status(i, 11, "Summary"),
            "SUMMARY": [
                {
                    "Elapsed": int(r.process_uptime_s),
                    "MHS av": mhs,
                    "MHS 5s": mhs,
                    "MHS 1m": mhs,
                    "MHS 5m": mhs,
                    "MHS 15m": mhs,
                    **share_fields(pool),
                }
            ],
        }

    def _cmd_devs(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        extra = {"MHS 1m": 0.0, "Device Elapsed": int(r.process_uptime_s)}
        devs = [{**row, "MHS 1m": row["MHS 5s"]} for row in dev_rows(r, "", **extra)]
        return {"STATUS": self.status(i, 9, f"{len(devs)} ASC(s)"), "DEVS": devs}

    _cmd_edevs = _cmd_devs

    def _cmd_tunerstatus(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        braiins = self.fleet.apis.braiins
        target = braiins.active_target_w(i)
        tuning = r.state == RigState.RAMPING
        chains = []
        for b, ok in enumerate(r.boards_ok):
            if not is_up(r):
                status = "Stable" if r.state == RigState.SLEEPING else "Initializing"
            elif not ok:
                status = "Failed {hashboard did not respond}"
            else:
                status = "Tuning individual chips" if tuning else "Stable"
            chains.append(
                {
                    "HashchainIndex": b,
                    "Iteration": 0,
                    "LoadedProfile": True,
                    "PowerLimit": round(target / len(r.boards_ok)),
                    "Stage": "Tuning" if tuning else "Stable",
                    "Status": status,
                }
            )
        return {
            "STATUS": self.status(i, 76, "Tuner Status"),
            "TUNERSTATUS": [
                {
                    "ApproximateMinerPowerConsumption": round(r.reported_w),
                    "DynamicPowerScaling": "Disabled",
                    "PowerLimit": target,
                    "TunerRunning": is_up(r),
                    "TunerChainStatus": chains,
                }
            ],
        }

    def _cmd_pools(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        pool = self.fleet.pool_status(i)
        row = {**pool_row(pool, 0, pool.url, pool.user, first=True), "AsicBoost": True}
        return {"STATUS": self.status(i, 7, "1 Pool(s)"), "POOLS": [row]}

    def _cmd_stats(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return {
            "STATUS": self.status(i, 70, "BOSminer+ stats"),
            "STATS": [{"STATS": 0, "ID": "", "Elapsed": int(r.process_uptime_s)}],
        }

    def _cmd_fans(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        model = self.fleet.rigs[i].model
        fans = [
            {
                "FAN": k,
                "ID": k,
                "RPM": r.fan_rpm if k < r.fans_ok else 0,
                "Speed": round(r.fan_fraction * 100) if k < r.fans_ok else 0,
            }
            for k in range(model.fans)
        ]
        return {"STATUS": self.status(i, 202, f"{model.fans} Fan(s)"), "FANS": fans}

    def _cmd_temps(self, i: int, r: RigReading, p: list[str], s: float) -> dict[str, Any]:
        rows = [
            {"TEMPS": b, "ID": b, "Board": round(pcb, 1), "Chip": round(chip, 1)}
            for b, (chip, pcb) in enumerate(board_temps(r))
        ]
        return {"STATUS": self.status(i, 201, f"{len(rows)} Temp(s)"), "TEMPS": rows}
