"""Whatsminer's btminer API v2 (TCP 4028), plain and encrypted, as a pure core.

Reads are plain cgminer-style JSON (`{"command": "summary"}` or `{"cmd": ...}`):
summary, devs, edevs, pools, devdetails answer with a STATUS list; get_version, status,
get_psu, get_miner_info, get_error_code and get_token answer btminer's flat form
`{"STATUS": "S", "Code": 131, "Msg": {...}}`. What pyasic 0.79 reads
(miners/backends/btminer.py, BTMinerV2): summary "MHS 1m" (hashrate), Power,
"Power Limit", "Fan Speed In/Out", "Env Temp", "Factory GHS", Elapsed; devs per board
"MHS 1m", "Chip Temp Avg", Temperature, "Effective Chips", "PCB SN"; devdetails Model
(the factory's model: "M50_VH50" -> M50VH50) and "bitmicro"/"btminer" (the family);
get_version Msg.fw_ver (a firmware dated after 2024-11 makes pyasic use API v3).

Writes must be encrypted, as the API V2.0.5 document and pyasic's BTMinerRPCAPI do it:
  get_token -> {time, salt, newsalt}; salt is the rig's own, newsalt and time are new
  key   = md5-crypt(admin password, salt) (the hash part); aes key = sha256(key)
  sign  = md5-crypt(key + time, newsalt) (the hash part): the token
  request  {"enc": 1, "data": base64(AES-256-ECB(json with "token": sign, NUL-padded))}
  reply    {"enc": base64(AES-256-ECB(json reply, NUL-padded))}
A rig hands out at most `max_tokens` live tokens (30 minutes each); past that get_token
answers Code 136. A request that does not decrypt to JSON under the rig's key (a wrong
password) or carries an unknown token gets the plain reply Code 135 "check token err";
an unencrypted write gets Code 45 "permission denied".

Controls and their timing (the rig model's):
  power_off / power_on         shed to sleep (shed_s) / boot again (boot_s + ramp_up_s)
  adjust_power_limit W         btminer restarts: 4028 refuses for restart_api_s, hashing
                               stops and comes back restart_s later at the new limit
  set_power_pct(_v2) P         P % of the limit, at once (shed_s down, ramp_up_s up)
  set_low/normal/high_power    a restart, like a new limit
  restart_btminer, reboot
A limit outside [the lowest draw the boards run at, nameplate] is refused (Code 132);
99999 means no limit (nameplate). A percentage takes the draw down to that lowest draw
at most.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import string
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib.hash import md5_crypt

from rigsim.cgminer import (
    CgminerApi,
    CommandError,
    devdetails_rows,
    parse_request,
    pool_row,
    small_int,
)
from rigsim.physics import RigReading, RigState
from rigsim.readings import board_temps, chain_rates_gh, is_up, mac_address, serial_number

if TYPE_CHECKING:
    from rigsim.rig import FleetView

API_VERSION = "2.0.5"
FW_V2 = "20230911.12.Rel"
FW_V3 = "20250214.16.REL3"
NO_LIMIT = 99999
OK_MSG = "API command OK"
_SALT_ALPHABET = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase
POWER_MODES = {"set_low_power": "Low", "set_normal_power": "Normal", "set_high_power": "High"}


def rig_salt(address: str) -> str:
    """The rig's own md5-crypt salt (8 characters, stable for an address)."""
    digest = hashlib.sha256(f"btminer salt {address}".encode()).digest()
    return "".join(_SALT_ALPHABET[b % 64] for b in digest[:8])


def crypt_part(word: str, salt: str) -> str:
    """The hash part of md5-crypt(word, salt): `$1$salt$<this>`."""
    return str(md5_crypt.using(salt=salt).hash(word)).split("$")[3]


@lru_cache(maxsize=4096)
def aes_key(password: str, salt: str) -> bytes:
    """The AES-256 key of a rig: sha256 of md5-crypt(password, salt)'s hash part."""
    return hashlib.sha256(crypt_part(password, salt).encode()).digest()


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.ECB())  # the API's choice, not ours


def encrypt(key: bytes, payload: dict[str, Any]) -> str:
    """base64(AES-ECB(json, NUL-padded to 16 bytes))."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    raw += b"\0" * (-len(raw) % 16)
    enc = _cipher(key).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def decrypt(key: bytes, data: str) -> dict[str, Any] | None:
    """The JSON object inside `data`, or None when it is not base64 of one under `key`."""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None
    if not raw or len(raw) % 16:
        return None
    dec = _cipher(key).decryptor()
    try:
        parsed = json.loads((dec.update(raw) + dec.finalize()).rstrip(b"\0").decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _rates(mhs: float) -> dict[str, float]:
    """btminer's MH/s fields, every window at the rate now (rigsim's rates are instant)."""
    return {k: mhs for k in ("MHS av", "MHS 5s", "MHS 1m", "MHS 5m", "MHS 15m", "HS RT")}


def flat(code: int, msg: Any, ok: bool = True) -> dict[str, Any]:
    """btminer's own reply form (custom commands and writes)."""
    return {
        "STATUS": "S" if ok else "E",
        "When": int(time.time()),
        "Code": code,
        "Msg": msg,
        "Description": "",
    }


class BtminerApi(CgminerApi):
    """btminer's API v2 for every Whatsminer rig of a fleet."""

    terminator = b""  # btminer ends a reply without a NUL byte
    privileged = frozenset(
        {"power_off", "power_on", "adjust_power_limit", "set_power_pct", "set_power_pct_v2",
         "set_low_power", "set_normal_power", "set_high_power", "restart_btminer", "reboot",
         "set_led", "update_pools"}
    )  # fmt: skip

    def __init__(self, fleet: FleetView) -> None:
        super().__init__(fleet)
        self.settings = fleet.config.firmware.whatsminer
        self._writes: dict[str, Callable[[int, dict[str, Any]], dict[str, Any]]] = {
            name: getattr(self, f"_write_{name}") for name in self.privileged
        }

    def description(self, i: int) -> str:
        return "btminer"

    # ------------------------------------------------------------------ state

    def limit_w(self, i: int) -> int:
        fw = self.fleet.firmware(i)
        default = round(self.fleet.rigs[i].model.nameplate_w)
        return default if fw.power_limit_w is None else fw.power_limit_w

    def target_clock(self, i: int) -> float:
        """The clock the power mode, limit and percentage allow."""
        m = self.fleet.rigs[i].model
        fw = self.fleet.firmware(i)
        ceiling = {
            "Low": m.low_power_fraction * m.nameplate_w,
            "High": m.watts_at(m.clock_range[1]),
        }.get(fw.power_mode, m.nameplate_w)
        return m.clock_for_watts(min(ceiling, self.limit_w(i)) * fw.power_pct / 100.0)

    def limit_range(self, i: int) -> tuple[int, int]:
        """The power limits a rig takes: the lowest draw its boards run at to nameplate."""
        m = self.fleet.rigs[i].model
        return m.watt_range()[0], round(m.nameplate_w)

    def limit_or_none(self, i: int, value: object) -> int | None:
        """A power limit in watts (NO_LIMIT included) the rig takes, or None."""
        watts = small_int(value)
        lo, hi = self.limit_range(i)
        return watts if watts is not None and (lo <= watts <= hi or watts == NO_LIMIT) else None

    def firmware_version(self, i: int) -> str:
        return FW_V3 if self.fleet.rigs[i].whatsminer_v3 else FW_V2

    def issue_token(self, i: int, now: float) -> dict[str, str] | None:
        """A new token (time, salt, newsalt), recording its sign; None past max_tokens."""
        tokens = self.fleet.firmware(i).live_tokens(now)
        if len(tokens) >= self.settings.max_tokens:
            return None
        salt = rig_salt(self.fleet.rigs[i].address)
        stamp = f"{int(time.time()) % 10000:04d}"
        newsalt = "".join(secrets.choice(_SALT_ALPHABET) for _ in range(8))
        key = crypt_part(self.settings.password, salt)
        tokens[crypt_part(key + stamp, newsalt)] = now + self.settings.token_timeout_s
        return {"time": stamp, "salt": salt, "newsalt": newsalt}

    # ------------------------------------------------------------------ entry points

    def handle(
        self, i: int, request: dict[str, Any] | str | bytes, session_now: float | None = None
    ) -> dict[str, Any]:
        now = time.monotonic() if session_now is None else session_now
        if isinstance(request, dict) and "enc" in request:
            return self._privileged(i, request, now)
        if isinstance(request, dict) and "command" not in request and "cmd" in request:
            request = {**request, "command": request["cmd"]}
        try:
            command, _ = parse_request(request)
        except CommandError as e:
            return flat(e.code, e.msg, ok=False)
        if any(part in self.privileged for part in command.split("+")):
            return flat(45, "permission denied", ok=False)
        if command == "get_token":
            token = self.issue_token(i, now)
            if token is None:
                return flat(136, "token over max times", ok=False)
            return flat(134, token)
        return super().handle(i, request, now)

    def _privileged(self, i: int, request: dict[str, Any], now: float) -> dict[str, Any]:
        data = request.get("data")
        key = aes_key(self.settings.password, rig_salt(self.fleet.rigs[i].address))
        cmd = decrypt(key, data) if isinstance(data, str) and len(data) < 65536 else None
        token = cmd.get("token") if cmd else None
        if not isinstance(token, str) or token not in self.fleet.firmware(i).live_tokens(now):
            return flat(135, "check token err", ok=False)
        name = cmd.get("cmd") if cmd else None
        fn = self._writes.get(name) if isinstance(name, str) else None
        reply = flat(14, "invalid cmd", ok=False) if fn is None or cmd is None else fn(i, cmd)
        return {"enc": encrypt(key, reply)}

    # ------------------------------------------------------------------ reads

    def _cmd_summary(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self.fleet.rigs[i].model
        pool = self.fleet.pool_status(i)
        fw = self.fleet.firmware(i)
        mhs = round(sum(chain_rates_gh(r)) * 1000.0, 2)
        temps = [chip for chip, _ in board_temps(r)]
        fan = r.fan_rpm if r.fans_ok else 0
        return {
            "STATUS": self.status(i, 11, "Summary"),
            "SUMMARY": [
                {
                    "Elapsed": int(r.process_uptime_s),
                    **_rates(mhs),
                    "Accepted": pool.accepted,
                    "Rejected": pool.rejected,
                    "Total MH": 0,
                    "Temperature": round(max(pcb for _, pcb in board_temps(r)), 2),
                    "freq_avg": round(m.nominal_mhz * r.clock * r.derate),
                    "Fan Speed In": fan,
                    "Fan Speed Out": r.fan_rpm if r.fans_ok > 1 else 0,
                    "Power": round(r.reported_w),
                    "Power Rate": round(r.reported_w / (mhs / 1e6), 2) if mhs else 0.0,
                    "Pool Rejected%": 0.0,
                    "Pool Stale%": 0.0,
                    "Uptime": int(r.uptime_s),
                    "Hash Stable": r.state == RigState.HASHING,
                    "Target Freq": round(m.nominal_mhz * r.clock_set),
                    "Target MHS": round(m.ths_at(r.clock_set) * 1e6),
                    "Env Temp": round(r.ambient_c, 2),
                    "Power Mode": fw.power_mode,
                    "Factory GHS": round(m.nameplate_ths * 1000.0),
                    "Power Limit": self.limit_w(i),
                    "Chip Temp Min": round(min(temps), 2),
                    "Chip Temp Max": round(max(temps), 2),
                    "Chip Temp Avg": round(sum(temps) / len(temps), 2),
                    "Btminer Fast Boot": "disable",
                    "Upfreq Complete": int(r.state == RigState.HASHING),
                    "Error Code Count": 0,
                }
            ],
        }

    def _cmd_devs(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self.fleet.rigs[i].model
        rig = self.fleet.rigs[i]
        devs = []
        for b, (ok, gh, (chip, pcb)) in enumerate(
            zip(r.boards_ok, chain_rates_gh(r), board_temps(r), strict=True)
        ):
            mhs = round(gh * 1000.0, 2)
            devs.append(
                {
                    "ASC": b,
                    "Slot": b,
                    "Name": "SM",
                    "ID": b,
                    "Enabled": "Y",
                    "Status": "Alive" if ok else "Dead",
                    "Temperature": round(pcb, 2),
                    "Chip Frequency": round(m.nominal_mhz * r.clock * r.derate) if ok else 0,
                    **_rates(mhs),
                    "Factory GHS": round(m.nameplate_ths * 1000.0 / m.hashboards),
                    "Upfreq Complete": int(r.state == RigState.HASHING),
                    "Effective Chips": m.chips_per_board if ok and is_up(r) else 0,
                    "PCB SN": serial_number("HEM", rig.address, b),
                    "Chip Temp Min": round(chip - 3.0, 2),
                    "Chip Temp Max": round(chip + 3.0, 2),
                    "Chip Temp Avg": round(chip, 2),
                }
            )
        return {"STATUS": self.status(i, 9, f"{len(devs)} ASC(s)"), "DEVS": devs}

    _cmd_edevs = _cmd_devs

    def _cmd_devdetails(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        m = self.fleet.rigs[i].model
        details = devdetails_rows(m, "SM", "bitmicro", m.whatsminer_type or "")
        return {"STATUS": self.status(i, 69, "Device Details"), "DEVDETAILS": details}

    def _cmd_pools(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        pool = self.fleet.pool_status(i)
        row = pool_row(pool, 1, pool.url, pool.user, first=True)
        return {"STATUS": self.status(i, 7, "1 Pool(s)"), "POOLS": [row]}

    def _cmd_get_version(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return flat(
            131,
            {
                "api_ver": API_VERSION,
                "fw_ver": self.firmware_version(i),
                "platform": "H616",
                "chip": "K58M66-2312 BINV05-196805A",
            },
        )

    def _cmd_status(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        off = r.state == RigState.SLEEPING
        fw = self.fleet.firmware(i)
        return flat(
            131,
            {
                "mineroff": "true" if off else "false",
                "mineroff_reason": "user" if off else "",
                "mineroff_time": "",
                "FirmwareVersion": f"'{self.firmware_version(i)}'",
                "power_mode": fw.power_mode.lower(),
                "power_limit_set": str(self.limit_w(i)),
                "power_pct": str(fw.power_pct),
                "hash_percent": "",
            },
        )

    def _cmd_get_psu(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        rig = self.fleet.rigs[i]
        return flat(
            131,
            {
                "name": "P222B",
                "hw_version": "V01.00",
                "sw_version": "V01.00.V01.03",
                "model": "P222B",
                "iin": str(round(r.true_w / 230.0 * 100)),
                "vin": "23000",
                "pin": str(round(r.reported_w)),
                "fan_speed": str(r.fan_rpm),
                "version": "",
                "serial_no": serial_number("PSU", rig.address),
                "vendor": "1",
                "temp0": str(round(r.ambient_c + 15.0, 1)),
            },
        )

    def _cmd_get_miner_info(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        rig = self.fleet.rigs[i]
        return flat(
            131,
            {
                "ip": rig.address,
                "proto": "dhcp",
                "netmask": "255.0.0.0",
                "gateway": "",
                "dns": "",
                "hostname": "WhatsMiner",
                "mac": mac_address(rig.address),
                "ledstat": "auto" if self.fleet.firmware(i).led_auto else "manual",
                "minersn": serial_number("HTM", rig.address),
            },
        )

    def _cmd_get_error_code(self, i: int, r: RigReading, p: list[str], s: float) -> dict:
        return flat(131, {"error_code": []})

    # ------------------------------------------------------------------ writes

    def apply_clock(self, i: int, restart: bool) -> dict[str, Any]:
        """Move to the clock the mode, limit and percentage allow: through a btminer
        restart (a new limit or mode) or at once (a percentage)."""
        x = self.target_clock(i)
        if restart:
            self.fleet.set_clock(i, x)
            self.fleet.restart_process(i, hashing=self.fleet.physics.state[i] != RigState.SLEEPING)
        else:
            self.fleet.set_clock(i, x)
        return flat(131, OK_MSG)

    def _write_power_off(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        self.fleet.sleep(i)
        return flat(131, OK_MSG)

    def _write_power_on(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        self.fleet.wake(i)
        return flat(131, OK_MSG)

    def _write_adjust_power_limit(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        watts = self.limit_or_none(i, cmd.get("power_limit"))
        if watts is None:
            lo, hi = self.limit_range(i)
            return flat(132, f"power_limit must be {lo}..{hi} W or {NO_LIMIT}", ok=False)
        self.fleet.firmware(i).power_limit_w = None if watts == NO_LIMIT else watts
        return self.apply_clock(i, restart=True)

    def _write_set_power_pct(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        pct = small_int(cmd.get("percent"), max_digits=3)
        if pct is None or pct > 100:
            return flat(132, "percent must be 0..100", ok=False)
        self.fleet.firmware(i).power_pct = pct
        return self.apply_clock(i, restart=False)

    _write_set_power_pct_v2 = _write_set_power_pct

    def _set_mode(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        self.fleet.firmware(i).power_mode = POWER_MODES[cmd["cmd"]]
        return self.apply_clock(i, restart=True)

    _write_set_low_power = _set_mode
    _write_set_normal_power = _set_mode
    _write_set_high_power = _set_mode

    def _write_restart_btminer(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        return self.apply_clock(i, restart=True)

    def reboot(self, i: int) -> None:
        """Reboot the control board; powered-off hashboards stay off until power_on."""
        asleep = self.fleet.physics.state[i] == RigState.SLEEPING
        self.fleet.reboot(i)
        if asleep:
            self.fleet.sleep(i)

    def _write_reboot(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        self.reboot(i)
        return flat(131, OK_MSG)

    def _write_set_led(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        self.fleet.firmware(i).led_auto = cmd.get("param") == "auto"
        return flat(131, OK_MSG)

    def _write_update_pools(self, i: int, cmd: dict[str, Any]) -> dict[str, Any]:
        return flat(131, OK_MSG)
