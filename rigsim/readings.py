"""What every firmware family reports from one rig's physics, in the units APIs print.

Each family formats its replies its own way, but the numbers behind them are the same:
per-hashboard rates that add up to the rig's hashrate (pyasic sums boards for some
families and reads the total for others, so the two must agree), chip and board
temperatures per hashboard, the rig's MAC address and serial numbers. Pure functions of a
RigReading and the rig's address.
"""

from __future__ import annotations

from rigsim.physics import RigReading, RigState


def chain_rates_gh(r: RigReading) -> list[float]:
    """Per-hashboard GH/s, rounded as the APIs print them; their sum is the reported rate."""
    alive = [ok for ok in r.boards_ok]
    n_alive = sum(alive)
    each = r.ths * 1000.0 / n_alive if n_alive else 0.0
    return [round(each, 2) if ok else 0.0 for ok in alive]


def board_temps(r: RigReading) -> list[tuple[float, float]]:
    """(chip, pcb) temperature per board; dead boards sit a little above ambient."""
    out = []
    for b, ok in enumerate(r.boards_ok):
        offset = (-1.0, 1.5, 0.0, 0.5)[b % 4]
        if ok:
            chip = r.chip_temp_c + offset
            pcb = r.ambient_c + (r.chip_temp_c - r.ambient_c) * 0.8 + offset
        else:
            chip = pcb = r.ambient_c + (r.chip_temp_c - r.ambient_c) * 0.2
        out.append((chip, pcb))
    return out


def is_up(r: RigReading) -> bool:
    """The boards are hashing (ramping or settled)."""
    return r.state in (RigState.RAMPING, RigState.HASHING)


def mac_address(address: str) -> str:
    """A locally administered MAC made from the rig's loopback address."""
    parts = [int(p) for p in address.split(".")]
    return "02:00:" + ":".join(f"{p:02X}" for p in parts)


def serial_number(prefix: str, address: str, board: int | None = None) -> str:
    """A stable serial number for the rig (or one of its hashboards) from its address."""
    digits = "".join(f"{int(p):03d}" for p in address.split(".")[1:])
    return f"{prefix}{digits}" if board is None else f"{prefix}{digits}B{board}"
