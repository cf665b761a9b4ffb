"""The cgminer-style API every firmware family serves on TCP 4028, as a pure core.

LuxOS, bosminer (Braiins OS), bmminer (stock Antminer) and btminer (Whatsminer) all speak
cgminer's API: a request `{"command": "summary", "parameter": "a,b"}` (or the plain text
`summary|a,b`), a JSON reply whose STATUS[0].STATUS is "S" on success or "E" with a Msg,
and `a+b` multicommands answered as `{"a": [reply], "b": [reply]}`. This module parses
requests and runs one family's commands: a subclass defines `_cmd_<name>` methods, its
STATUS Description, which commands are privileged and how a privileged command is
authorised. No sockets, no clock of its own: readings come from the fleet.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rigsim.physics import RigReading
from rigsim.readings import board_temps, chain_rates_gh

if TYPE_CHECKING:
    from rigsim.models import RigModel
    from rigsim.rig import FleetView, PoolStatus

MAX_COMMANDS = 16  # a multicommand longer than this is refused (hostile input)

Command = Callable[[int, RigReading, list[str], float], dict[str, Any]]


class CommandError(Exception):
    """A command that fails: the reply carries STATUS "E", this code and this message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def small_int(value: object, max_digits: int = 6) -> int | None:
    """A non-negative integer given as an int or a string of at most `max_digits` ASCII
    digits (untrusted input: no signs, no floats, no huge numbers); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**max_digits else None
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
            return int(text)
    return None


def status_block(code: int, msg: str, description: str, ok: bool = True) -> list[dict[str, Any]]:
    """cgminer's STATUS list: one entry, "S" or "E"."""
    return [
        {
            "Code": code,
            "Description": description,
            "Msg": msg,
            "STATUS": "S" if ok else "E",
            "When": int(time.time()),
        }
    ]


def parse_request(request: dict[str, Any] | str | bytes) -> tuple[str, list[str]]:
    """(command, parameters) of a JSON or plain-text request; CommandError when malformed."""
    if isinstance(request, bytes):
        request = request.rstrip(b"\x00").decode("utf-8", errors="replace")
    if isinstance(request, str):
        text = request.strip()
        if text.startswith("{"):
            try:
                request = json.loads(text)
            except json.JSONDecodeError:
                raise CommandError(23, "Invalid JSON") from None
        else:
            cmd, _, param = text.partition("|")
            request = {"command": cmd, "parameter": param}
    if not isinstance(request, dict) or not isinstance(request.get("command"), str):
        raise CommandError(23, "Invalid JSON: missing command")
    raw = request.get("parameter", "")
    param = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
    params = [p.strip() for p in param.split(",")] if param != "" else []
    return request["command"].strip().lower(), params


def four_temps(centre: float, spread: tuple[float, float, float, float]) -> str:
    """A cgminer "a-b-c-d" temperature string; never 0 (pyasic drops zeros)."""
    return "-".join(str(max(1, round(centre + s))) for s in spread)


def share_fields(pool: PoolStatus) -> dict[str, Any]:
    """A SUMMARY row's share counters."""
    return {
        "Accepted": pool.accepted,
        "Rejected": pool.rejected,
        "Stale": pool.stale,
        "Hardware Errors": 0,
        "Difficulty Accepted": pool.difficulty_accepted,
        "Best Share": 0,
    }


def board_stats(
    model: RigModel, r: RigReading, mhz: int, ideal_gh: float, elapsed: float, id_: str
) -> dict[str, Any]:
    """STATS[1] of a Bitmain-style rig: totals, fanN, and per hashboard N chain_rateN
    (GH/s; they sum to the hashrate), chain_acnN, tempN / temp2_N and the four-sensor
    temp_pcbN / temp_chipN strings pyasic averages."""
    rates = chain_rates_gh(r)
    st: dict[str, Any] = {
        "STATS": 0,
        "ID": id_,
        "Elapsed": int(elapsed),
        "Calls": 0,
        "Wait": 0.0,
        "Max": 0.0,
        "Min": 99999999.0,
        "GHS 5s": round(sum(rates), 2),
        "GHS av": round(sum(rates), 2),
        "miner_count": model.hashboards,
        "frequency": mhz,
        "fan_num": model.fans,
        "temp_num": model.hashboards,
        "total_rateideal": round(ideal_gh, 2),
        "rate_unit": "GH",
        "total_freqavg": mhz,
        "total_acn": sum(model.chips_per_board for ok in r.boards_ok if ok),
        "total_rate": round(sum(rates), 2),
    }
    for k in range(model.fans):
        st[f"fan{k + 1}"] = r.fan_rpm if k < r.fans_ok else 0
    for b, (ok, rate, (chip, pcb)) in enumerate(
        zip(r.boards_ok, rates, board_temps(r), strict=True)
    ):
        n = b + 1
        st[f"temp{n}"] = round(pcb)
        st[f"temp2_{n}"] = round(chip)
        st[f"temp_pcb{n}"] = four_temps(pcb, (-2, -1, 1, 2))
        st[f"temp_chip{n}"] = four_temps(chip, (-3, -1, 1, 3))
        st[f"chain_acn{n}"] = model.chips_per_board if ok else 0
        st[f"chain_hw{n}"] = 0
        st[f"chain_rate{n}"] = f"{rate:.2f}"
        st[f"chain_rateideal{n}"] = round(ideal_gh / model.hashboards, 2)
        st[f"freq{n}"] = mhz if ok else 0
    return st


def dev_rows(r: RigReading, name: str, **extra: Any) -> list[dict[str, Any]]:
    """cgminer's DEVS rows, one per hashboard (MH/s, chip temperature); `extra` adds the
    same fields to every row."""
    return [
        {
            "ASC": b,
            "Name": name,
            "ID": b,
            "Enabled": "Y",
            "Status": "Alive" if ok else "Dead",
            "Temperature": round(chip, 1),
            "MHS 5s": round(rate * 1000.0, 2),
            "MHS av": round(rate * 1000.0, 2),
            **extra,
        }
        for b, (ok, rate, (chip, _pcb)) in enumerate(
            zip(r.boards_ok, chain_rates_gh(r), board_temps(r), strict=True)
        )
    ]


def devdetails_rows(model: RigModel, name: str, driver: str, type_: str) -> list[dict[str, Any]]:
    """cgminer's DEVDETAILS rows, one per hashboard; Model is what pyasic's factory reads."""
    return [
        {
            "DEVDETAILS": b,
            "Name": name,
            "ID": b,
            "Driver": driver,
            "Kernel": "",
            "Model": type_,
            "Device Path": "",
        }
        for b in range(model.hashboards)
    ]


def pool_row(pool: PoolStatus, index: int, url: str, user: str, first: bool) -> dict[str, Any]:
    """A POOLS row; only the first (active) pool carries the share counters."""
    return {
        "POOL": index,
        "URL": url,
        "Status": "Alive" if pool.alive or not first else "Dead",
        "Priority": index,
        "Quota": 1,
        "Accepted": pool.accepted if first else 0,
        "Rejected": pool.rejected if first else 0,
        "Stale": pool.stale if first else 0,
        "Get Failures": 0,
        "Remote Failures": 0,
        "User": user,
        "Stratum Active": pool.stratum_active if first else False,
        "Difficulty Accepted": pool.difficulty_accepted if first else 0.0,
    }


class CgminerApi:
    """One family's cgminer-style API for every rig of a fleet."""

    privileged: ClassVar[frozenset[str]] = frozenset()
    terminator: ClassVar[bytes] = b"\x00"  # cgminer ends a reply with a NUL byte
    # commands whose answer never changes, as data: name -> (status code, message,
    # sections); the STATUS block (its time) is made at each answer
    constant: ClassVar[Mapping[str, tuple[int, str, Mapping[str, Any]]]] = {}

    def __init__(self, fleet: FleetView) -> None:
        self.fleet = fleet
        self._commands: dict[str, Command] = {
            name.removeprefix("_cmd_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("_cmd_")
        }
        for name, answer in self.constant.items():
            self._commands[name] = partial(self._constant_answer, *answer)

    def _constant_answer(self, code: int, msg: str, sections: Mapping[str, Any], i: int,
                         r: RigReading, p: list[str], s: float) -> dict[str, Any]:  # fmt: skip
        return {"STATUS": self.status(i, code, msg), **copy.deepcopy(sections)}

    def description(self, i: int) -> str:
        """STATUS[0].Description: names the firmware (pyasic's factory matches on it)."""
        raise NotImplementedError

    def status(self, i: int, code: int, msg: str, ok: bool = True) -> list[dict[str, Any]]:
        return status_block(code, msg, self.description(i), ok)

    def error(self, i: int, code: int, msg: str) -> dict[str, Any]:
        return {"STATUS": self.status(i, code, msg, ok=False), "id": 1}

    def handle(
        self, i: int, request: dict[str, Any] | str | bytes, session_now: float | None = None
    ) -> dict[str, Any]:
        """Reply of rig i to one request (session_now: real seconds, for session expiry)."""
        snow = time.monotonic() if session_now is None else session_now
        try:
            command, params = parse_request(request)
        except CommandError as e:
            return self.error(i, e.code, e.msg)
        reading = self.fleet.reading(i)
        if "+" in command:
            parts = command.split("+")
            if len(parts) > MAX_COMMANDS:
                return self.error(i, 14, f"Too many commands (at most {MAX_COMMANDS})")
            out: dict[str, Any] = {}
            for part in parts:
                if part in self.privileged:
                    denied = f"Access denied to '{part}' in a multicommand"
                    out[part] = [self.error(i, 45, denied)]
                else:
                    out[part] = [self._one(i, part, params, snow, reading)]
            out["id"] = 1
            return out
        return self._one(i, command, params, snow, reading)

    def wire(self, i: int, request: dict[str, Any] | str | bytes) -> bytes:
        """The bytes the rig sends back for `request` on its TCP API."""
        reply = self.handle(i, request)
        return json.dumps(reply, separators=(",", ":")).encode() + self.terminator

    def _authorise(self, i: int, command: str, params: list[str], snow: float) -> list[str]:
        """A privileged command's parameters once authorised; CommandError when refused."""
        return params

    def _one(
        self, i: int, command: str, params: list[str], snow: float, reading: RigReading
    ) -> dict[str, Any]:
        fn = self._commands.get(command)
        if fn is None:
            return self.error(i, 14, "Invalid command")
        try:
            if command in self.privileged:
                params = self._authorise(i, command, params, snow)
            reply = fn(i, reading, params, snow)
        except CommandError as e:
            return self.error(i, e.code, e.msg)
        reply["id"] = 1
        return reply
