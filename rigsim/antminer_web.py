"""The stock Antminer web interface's CGI (port 80, digest auth), as a pure core.

What pyasic 0.79 calls (pyasic/web/antminer.py, AntminerModernWebAPI), by path
/cgi-bin/<command>.cgi:
  get_system_info   minertype (pyasic's factory takes the model from it), macaddr,
                    hostname, serinum
  get_miner_conf    pools, bitmain-fan-ctrl/-pwm, bitmain-work-mode: "0" normal,
                    "1" sleep, "3" low power (pyasic's is_mining and get_config read it)
  set_miner_conf    a JSON body with miner-mode (0, 1, 3; a string when pyasic's
                    antminer_mining_mode_as_str is set), pools, fan settings, freq-level;
                    answers {"stats": "success", "code": "M000"}
  reboot, blink, get_blink_status, get_network_info, stats (per-chain rate_real,
  asic_num, temp_pcb, temp_chip: pyasic's hashboards), summary (status list: errors)
A change of work mode or pools restarts the mining process (bmminer), as the firmware
does: its port 4028 refuses connections for restart_api_s, hashing stops at once and, for
normal or low power, starts again restart_s later and ramps up (ramp_up_s); sleep sheds
the boards instead. This web server stays up meanwhile (a set_miner_conf sent then is
taken, and its restart starts over); only a reboot takes it down. Sending the
configuration already in force changes nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rigsim.cgminer import small_int
from rigsim.physics import RigReading
from rigsim.readings import board_temps, chain_rates_gh, mac_address, serial_number
from rigsim.rig import MODE_LOW, MODE_NORMAL, MODE_SLEEP

if TYPE_CHECKING:
    from rigsim.rig import FleetView

MODES = (MODE_NORMAL, MODE_SLEEP, MODE_LOW)
MAX_FIELD = 256  # longest pool URL, user or password accepted
FIRMWARE_DATE = "Fri Aug 25 17:28:57 CST 2023"

OK = {"stats": "success", "code": "M000", "msg": "OK!"}


class ConfError(ValueError):
    """A set_miner_conf body the firmware refuses."""


def _mode(value: Any) -> int:
    mode = small_int(value, max_digits=1)
    if mode not in MODES:
        raise ConfError(f"miner-mode must be 0, 1 or 3; got {value!r:.40}")
    return mode


def _pools(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > 3:
        raise ConfError("pools must be a list of at most 3 pools")
    out = []
    for p in value:
        if not isinstance(p, dict):
            raise ConfError("each pool must be an object with url, user and pass")
        entry = {k: p.get(k, "") for k in ("url", "user", "pass")}
        if any(not isinstance(v, str) or len(v) > MAX_FIELD for v in entry.values()):
            raise ConfError(f"pool url, user and pass must be strings of at most {MAX_FIELD}")
        out.append(entry)
    while len(out) < 3:
        out.append({"url": "", "user": "", "pass": ""})
    return out


class AntminerWeb:
    """The web CGI of every stock Antminer rig of a fleet (sync, pure)."""

    def __init__(self, fleet: FleetView) -> None:
        self.fleet = fleet

    def handle(self, i: int, command: str, body: dict[str, Any] | None) -> dict[str, Any] | None:
        """Rig i's reply to /cgi-bin/<command>.cgi (body: a POSTed JSON object), or None
        for a CGI the firmware does not have (404)."""
        fn = getattr(self, f"_cgi_{command}", None) if command.isidentifier() else None
        if fn is None:
            return None
        return fn(i, body or {}, self.fleet.reading(i))

    # ------------------------------------------------------------------ controls

    def mode_clock(self, i: int, mode: int) -> float:
        """The relative clock of a work mode: nominal, or low power's share of nameplate."""
        m = self.fleet.rigs[i].model
        if mode == MODE_LOW:
            return m.clock_for_watts(m.low_power_fraction * m.nameplate_w)
        return m.nominal_profile.x

    def pool_list(self, i: int) -> list[dict[str, str]]:
        fw = self.fleet.firmware(i)
        if fw.pools is not None:
            return fw.pools
        pool = self.fleet.pool_status(i)
        return _pools([{"url": pool.url, "user": pool.user, "pass": "x"}])

    def _bmminer_up(self, r: RigReading) -> bool:
        return self.fleet.now() >= r.process_down_until

    # ------------------------------------------------------------------ CGIs

    def _cgi_get_system_info(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        rig = self.fleet.rigs[i]
        return {
            "minertype": rig.model.luxos_type,
            "nettype": "DHCP",
            "netdevice": "eth0",
            "macaddr": mac_address(rig.address),
            "hostname": "Antminer",
            "ipaddress": rig.address,
            "netmask": "255.0.0.0",
            "gateway": "",
            "dnsservers": "",
            "system_mode": "GNU/Linux",
            "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
            "system_filesystem_version": FIRMWARE_DATE,
            "firmware_type": "Release",
            "serinum": serial_number("JYZZ", rig.address),
        }

    def _cgi_get_network_info(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        rig = self.fleet.rigs[i]
        return {
            "nettype": "DHCP",
            "netdevice": "eth0",
            "macaddr": mac_address(rig.address),
            "ipaddress": rig.address,
            "netmask": "255.0.0.0",
            "conf_nettype": "DHCP",
            "conf_hostname": "Antminer",
            "conf_ipaddress": "",
            "conf_netmask": "",
            "conf_gateway": "",
            "conf_dnsservers": "",
        }

    def _cgi_get_miner_conf(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        fw = self.fleet.firmware(i)
        m = self.fleet.rigs[i].model
        return {
            "pools": self.pool_list(i),
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            "bitmain-fan-ctrl": fw.fan_ctrl,
            "bitmain-fan-pwm": fw.fan_pwm,
            "bitmain-use-vil": True,
            "bitmain-freq": str(m.nominal_mhz),
            "bitmain-voltage": str(round(m.nominal_voltage * 100)),
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-work-mode": str(fw.work_mode),
            "bitmain-freq-level": "100",
        }

    def _cgi_set_miner_conf(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        fw = self.fleet.firmware(i)
        try:
            mode = _mode(body["miner-mode"]) if "miner-mode" in body else fw.work_mode
            pools = _pools(body["pools"]) if "pools" in body else self.pool_list(i)
            fan_ctrl = body.get("bitmain-fan-ctrl", fw.fan_ctrl)
            pwm = small_int(body.get("bitmain-fan-pwm", fw.fan_pwm), max_digits=3)
            if not isinstance(fan_ctrl, bool) or pwm is None or pwm > 100:
                raise ConfError("bitmain-fan-ctrl must be a boolean, bitmain-fan-pwm 0..100")
            fan_pwm = str(pwm)
        except ConfError as e:
            return {"stats": "error", "code": "M001", "msg": str(e)}
        changed = (mode, pools) != (fw.work_mode, self.pool_list(i))
        fw.pools, fw.fan_ctrl, fw.fan_pwm = pools, fan_ctrl, fan_pwm
        if changed:
            fw.work_mode = mode
            if mode == MODE_SLEEP:
                self.fleet.restart_process(i, hashing=False)
            else:
                self.fleet.set_clock(i, self.mode_clock(i, mode))
                self.fleet.restart_process(i, hashing=True)
        return dict(OK)

    def _cgi_reboot(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        fw = self.fleet.firmware(i)
        if fw.work_mode != MODE_SLEEP:
            self.fleet.set_clock(i, self.mode_clock(i, fw.work_mode))
        self.fleet.reboot(i)
        if fw.work_mode == MODE_SLEEP:  # it boots into the mode it was in
            self.fleet.sleep(i)
        return {"stats": "success", "code": "R000", "msg": "Rebooting"}

    def _cgi_blink(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        on = str(body.get("blink", "")).lower() == "true"
        self.fleet.firmware(i).blink = on
        return {"code": "B000" if on else "B100"}

    def _cgi_get_blink_status(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        return {"blink": self.fleet.firmware(i).blink}

    def _not_running(self) -> dict[str, Any]:
        return {
            "STATUS": {
                "STATUS": "E",
                "when": int(time.time()),
                "Msg": "bmminer is not running",
                "api_version": "1.0.0",
            }
        }

    def _info(self) -> dict[str, Any]:
        return {
            "miner_version": "uart_trans.1.3",
            "CompileTime": FIRMWARE_DATE,
            "type": "Antminer",
        }

    def _cgi_stats(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        if not self._bmminer_up(r):
            return self._not_running()
        rig = self.fleet.rigs[i]
        m = rig.model
        rates = chain_rates_gh(r)
        ideal = m.ths_at(r.clock_set) * 1000.0
        chains = []
        for b, (ok, rate, (chip, pcb)) in enumerate(
            zip(r.boards_ok, rates, board_temps(r), strict=True)
        ):
            chips = [round(chip) + d for d in (-3, -1, 1, 3)]
            pcbs = [round(pcb) + d for d in (-2, -1, 1, 2)]
            chains.append(
                {
                    "index": b,
                    "freq_avg": round(m.nominal_mhz * r.clock * r.derate) if ok else 0,
                    "rate_ideal": round(ideal / m.hashboards, 2),
                    "rate_real": rate,
                    "asic_num": m.chips_per_board if ok else 0,
                    "temp_pic": pcbs,
                    "temp_pcb": pcbs,
                    "temp_chip": chips,
                    "hw": 0,
                    "eeprom_loaded": True,
                    "sn": serial_number("SMTT", rig.address, b),
                }
            )
        return {
            "STATUS": {"STATUS": "S", "when": int(time.time()), "Msg": "stats", "api_version":
                       "1.0.0"},
            "INFO": self._info(),
            "STATS": [
                {
                    "elapsed": int(r.process_uptime_s),
                    "rate_5s": round(sum(rates), 2),
                    "rate_avg": round(sum(rates), 2),
                    "rate_ideal": round(ideal, 2),
                    "rate_unit": "GH/s",
                    "chain_num": m.hashboards,
                    "fan_num": m.fans,
                    "fan": [r.fan_rpm if k < r.fans_ok else 0 for k in range(m.fans)],
                    "hwp_total": 0.0,
                    "miner-mode": self.fleet.firmware(i).work_mode,
                    "freq-level": 100,
                    "chain": chains,
                }
            ],
        }  # fmt: skip

    def _cgi_summary(self, i: int, body: dict, r: RigReading) -> dict[str, Any]:
        if not self._bmminer_up(r):
            return self._not_running()
        rates = chain_rates_gh(r)
        hot = r.chip_temp_c >= self.fleet.rigs[i].model.hot_c
        status = [
            {"type": "rate", "status": "s", "code": 0, "msg": ""},
            {"type": "network", "status": "s", "code": 0, "msg": ""},
            {"type": "fans", "status": "s" if r.fans_ok else "e", "code": 0, "msg": ""},
            {"type": "temp", "status": "e" if hot else "s", "code": 0,
             "msg": "Temperature is too high" if hot else ""},
        ]  # fmt: skip
        return {
            "STATUS": {"STATUS": "S", "when": int(time.time()), "Msg": "summary",
                       "api_version": "1.0.0"},
            "INFO": self._info(),
            "SUMMARY": [
                {
                    "elapsed": int(r.process_uptime_s),
                    "rate_5s": round(sum(rates), 2),
                    "rate_avg": round(sum(rates), 2),
                    "rate_unit": "GH/s",
                    "hw_all": 0,
                    "bestshare": 0,
                    "status": status,
                }
            ],
        }  # fmt: skip
