"""The rig catalog: one data file (plumbing/rigs.toml, shipped with the package) read by
fleetd and rigsim alike, and the clock/voltage physics both derive a model's operating
points from.

A rig's hashrate scales with its clock, its power with clock times voltage squared, and
its voltage can drop as the clock drops, so underclocking lowers J/TH. For x = f / f_nominal:

    hashrate(x) = nameplate_ths * x
    power(x)    = base_w + (nameplate_w - base_w) * g(x),   g(x) = x * v(x)^2
    v(x)        = V_FLOOR + (1 - V_FLOOR) * x                (relative voltage)

With V_FLOOR = 0.55 a rig at 55 % clock draws about 37 % of its nameplate watts at about
70 % of its nameplate J/TH, as underclocked rigs report. LuxOS's profiles are this
ladder 25 MHz apart (`ladder_mhz`); fleetd plans with the same points rigsim serves.

    entry = catalog.lookup("Antminer S19j Pro")   # by key, name or a human spelling
    entry.nameplate_ths, entry.watts_at(0.8), catalog.ladder_mhz(entry)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

STEP_MHZ = 25  # LuxOS profiles are this far apart
V_FLOOR = 0.55  # relative voltage as the clock goes to zero
MIN_POWER_FRACTION = 0.35  # the lowest profile draws at least this share of nameplate
OVERCLOCK_STEPS = 1  # profiles above nominal


class CatalogError(ValueError):
    """The catalog file is inconsistent (model, key and what was expected)."""


def power_fraction(x: float) -> float:
    """g(x): the share of the boards' nameplate power drawn at relative clock x."""
    v = V_FLOOR + (1.0 - V_FLOOR) * x
    return x * v * v


@dataclass(frozen=True, slots=True)
class Nameplate:
    """One model as plumbing/rigs.toml describes it (firmware-independent)."""

    key: str  # "S19jPro": how configs name the model
    name: str  # "Antminer S19j Pro": as the firmware reports it
    nameplate_ths: float
    nameplate_w: float
    nominal_mhz: int
    nominal_voltage: float
    base_w: float
    sleep_w: float
    boot_s: float
    hashboards: int
    chips_per_board: int
    fans: int
    fan_max_rpm: int

    @property
    def j_per_th(self) -> float:
        return self.nameplate_w / self.nameplate_ths

    def watts_at(self, x: float) -> float:
        """Wall draw when hashing at relative clock x."""
        return watts_at(self.base_w, self.nameplate_w, x)


def watts_at(base_w: float, nameplate_w: float, x: float) -> float:
    """Wall draw at relative clock x of a rig with these figures (see the module)."""
    return base_w + (nameplate_w - base_w) * power_fraction(x)


def ladder_mhz(
    nominal_mhz: int,
    base_w: float,
    nameplate_w: float,
    *,
    min_power_fraction: float = MIN_POWER_FRACTION,
    overclock_steps: int = OVERCLOCK_STEPS,
) -> list[int]:
    """The profile clocks, lowest first: 25 MHz apart, from the lowest that still draws
    `min_power_fraction` of nameplate to `overclock_steps` above nominal."""
    lowest = nominal_mhz
    while lowest - STEP_MHZ > 0:
        x = (lowest - STEP_MHZ) / nominal_mhz
        if watts_at(base_w, nameplate_w, x) < min_power_fraction * nameplate_w:
            break
        lowest -= STEP_MHZ
    return list(range(lowest, nominal_mhz + STEP_MHZ * overclock_steps + 1, STEP_MHZ))


def normalise(name: str) -> str:
    """A model name as lookups compare it: no spaces, dashes or underscores, lower case,
    without the maker's prefix ("Antminer S19j Pro" -> "s19jpro")."""
    return re.sub(r"[\s_\-]", "", name).lower().removeprefix("antminer").removeprefix("whatsminer")


@cache
def models() -> dict[str, Nameplate]:
    """Every model of plumbing/rigs.toml, by key, in file order."""
    text = resources.files("plumbing").joinpath("rigs.toml").read_text(encoding="utf-8")
    return parse(tomllib.loads(text))


_FIELDS = {f.name: str(f.type) for f in fields(Nameplate) if f.name != "key"}
_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float)}


def parse(data: dict[str, object]) -> dict[str, Nameplate]:
    """The catalog from a parsed rigs.toml; CatalogError naming the model and key."""
    out: dict[str, Nameplate] = {}
    for key, table in data.items():
        if not isinstance(table, dict) or set(table) != set(_FIELDS):
            raise CatalogError(f"rigs.toml: [{key}]: expected exactly the keys "
                               f"{', '.join(_FIELDS)}")  # fmt: skip
        for name, kind in _FIELDS.items():
            value = table[name]
            if not isinstance(value, _TYPES[kind]) or isinstance(value, bool):
                raise CatalogError(f"rigs.toml: {key}.{name}: expected {kind}, got {value!r}")
            if isinstance(value, int | float) and not value > 0:
                raise CatalogError(f"rigs.toml: {key}.{name}: expected > 0, got {value!r}")
        out[key] = Nameplate(key=key, **{n: table[n] for n in _FIELDS})
    return out


def lookup(name: str) -> Nameplate:
    """A model by key, by the name its firmware reports, or a human spelling of either;
    KeyError naming the known keys."""
    wanted = normalise(name)
    for entry in models().values():
        if wanted in (normalise(entry.key), normalise(entry.name)):
            return entry
    raise KeyError(f"unknown rig model {name!r}; expected one of {', '.join(models())}")
