"""bmminer's cgminer API (stock Antminer firmware, TCP 4028), as replies from physics.

Read-only, as Bitmain ships it, and what pyasic 0.79 reads (miners/backends/bmminer.py,
antminer.py, rpc/antminer.py):
  version   VERSION[0].Type (the factory's model: "Antminer S19j Pro"), .CompileTime
            (pyasic's firmware version), .API. "Antminer" in the reply, without
            "DEVDETAILS", is how the factory knows stock firmware.
  summary   SUMMARY[0]["GHS 5s"] (the hashrate pyasic reports), Elapsed
  stats     STATS[1]: total_rateideal + rate_unit (expected hashrate), fan1..fanN,
            chain_rateN / chain_acnN / temp_chipN, Elapsed (pyasic's uptime)
  pools, devs, devdetails
The work mode and every control live in the web interface (rigsim.antminer_web). While
bmminer restarts (a mode change) this port refuses connections.
"""

from __future__ import annotations

from typing import Any

from rigsim.antminer_web import FIRMWARE_DATE
from rigsim.cgminer import (
    CgminerApi,
    board_stats,
    dev_rows,
    devdetails_rows,
    pool_row,
    share_fields,
)
from rigsim.physics import RigReading
from rigsim.readings import chain_rates_gh

BMMINER = "1.0.0"
MINER = "uart_trans.1.3"


class BmminerApi(CgminerApi):
    """bmminer's API for every stock Antminer rig of a fleet."""

    def description(self, i: int) -> str:
        return f"bmminer {BMMINER}"

    def _head(self, i: int) -> dict[str, Any]:
        return {
            "BMMiner": BMMINER,
            "Miner": MINER,
            "CompileTime": FIRMWARE_DATE,
            "Type": self.fleet.rigs[i].model.luxos_type,
        }

    def _cmd_version(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return {
            "STATUS": self.status(i, 22, "BMMiner versions"),
            "VERSION": [{**self._head(i), "API": "3.1"}],
        }

    def _cmd_summary(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        ghs = round(sum(chain_rates_gh(r)), 2)
        pool = self.fleet.pool_status(i)
        return {
            "STATUS": self.status(i, 11, "Summary"),
            "SUMMARY": [
                {
                    "Elapsed": int(r.process_uptime_s),
                    "GHS 5s": ghs,
                    "GHS av": ghs,
                    "GHS 30m": ghs,
                    "Found Blocks": 0,
                    **share_fields(pool),
                    "Device Hardware%": 0.0,
                }
            ],
        }

    def _cmd_stats(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self.fleet.rigs[i].model
        mhz = round(m.nominal_mhz * r.clock * r.derate)
        ideal = m.ths_at(r.clock_set) * 1000.0
        st = board_stats(m, r, mhz, ideal, r.process_uptime_s, "BC50")
        st["rate_30m"], st["Mode"] = st["GHS av"], 2
        asics = " ".join(["oooooooo"] * (m.chips_per_board // 8))  # chip status, 8 a group
        for b, ok in enumerate(r.boards_ok):
            st[f"chain_acs{b + 1}"] = asics if ok else ""
        return {"STATUS": self.status(i, 70, "BMMiner stats"), "STATS": [self._head(i), st]}

    def _cmd_devs(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        devs = dev_rows(r, "BTM_SOC", **{"Hardware Errors": 0})
        return {"STATUS": self.status(i, 9, f"{len(devs)} ASC(s)"), "DEVS": devs}

    def _cmd_devdetails(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self.fleet.rigs[i].model
        details = devdetails_rows(m, "BTM_SOC", "bitmain", m.luxos_type)
        return {"STATUS": self.status(i, 69, "Device Details"), "DEVDETAILS": details}

    def _cmd_pools(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        conf = self.fleet.apis.antminer_web.pool_list(i)
        pool = self.fleet.pool_status(i)
        rows = [
            pool_row(pool, k, c["url"], c["user"], first=k == 0)
            for k, c in enumerate(conf)
            if c["url"]
        ]
        return {"STATUS": self.status(i, 7, f"{len(rows)} Pool(s)"), "POOLS": rows}
