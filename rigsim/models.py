"""Rig models as rigsim emulates them: the catalog's figures, LuxOS profiles, the
power-to-hashrate curve, and how each firmware's controls move the draw.

A LuxOS rig does not take a watt target; it runs one of a ladder of frequency
profiles 25 MHz apart ("290MHz", "315MHz", ...). The figures of each model (nameplate,
nominal clock and voltage, boards, chips, fans) are the rig catalog's (plumbing/rigs.toml,
read through plumbing.catalog, which fleetd plans with too), and so is the physics that
turns them into that ladder (hashrate proportional to clock, power = base_w + (nameplate_w
- base_w) * x * v(x)^2, see plumbing.catalog); this module adds what only the emulator
needs: the firmware's identity to pyasic, thermal figures and control timings.

`luxos_type` is what the rig's `version` command reports as VERSION[0].Type; pyasic
0.79 picks the miner class from it (MINER_CLASSES[LUX_OS] in pyasic/miners/factory.py).
pyasic 0.79 knows LuxOS only on S9, S19, S19 Pro, S19j Pro(+), S19k Pro, S19 XP, T19,
S21, S21 Pro and T21. The S21 XP and the Whatsminers have no LuxOS class there, so
pyasic falls back to its generic `LUXMiner`, which has no hashboard count and so no
hashrate or temperatures in `get_data` (wattage, power limit, sleep and wake work).
`pyasic_class` records which class pyasic picks.

A model may also run other firmware (`firmware_classes`: the class pyasic 0.79 picks for
it on that firmware); how fast each firmware's controls move the draw is part of the model
too: `tune_down_s`/`tune_up_s` (the Braiins OS autotuner settling on a new power target),
`restart_s`/`restart_api_s` (a stock Antminer changing work mode or a Whatsminer taking a
new power limit restarts its mining process), `low_power_fraction` (stock low-power mode).
`clock_for_watts` turns a watt target into the relative clock that draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from plumbing import catalog
from plumbing.catalog import STEP_MHZ, V_FLOOR, power_fraction

__all__ = ["MODELS", "STEP_MHZ", "V_FLOOR", "Profile", "RigModel", "model_by_name",
           "power_fraction"]  # fmt: skip

@dataclass(frozen=True, slots=True)
class Profile:
    """One LuxOS frequency profile, as the `profiles` command lists it."""

    name: str  # "415MHz"
    mhz: int
    x: float  # clock relative to the nominal profile
    watts: int  # nominal wall draw in this profile
    ths: float  # nominal hashrate in this profile
    voltage: float  # board voltage
    step: int  # steps of 25 MHz from the nominal profile

    @property
    def j_per_th(self) -> float:
        return self.watts / self.ths


@dataclass(frozen=True)
class RigModel:
    """Static figures of one rig model. Times are simulated seconds."""

    key: str  # "S19jPro": how configs name the model
    luxos_type: str  # VERSION[0].Type, e.g. "Antminer S19j Pro"
    pyasic_class: str  # class pyasic 0.79 picks for this Type on LuxOS
    nameplate_ths: float
    nameplate_w: float
    hashboards: int
    chips_per_board: int
    fans: int
    fan_max_rpm: int
    nominal_mhz: int  # clock of the nominal ("Step 0") profile
    nominal_voltage: float
    base_w: float = 120.0  # control board + fans while up
    sleep_w: float = 25.0  # curtailed ("sleep") draw
    boot_s: float = 150.0  # wake/reboot until the hashboards start ramping
    ramp_up_s: float = 120.0  # ramp from zero (after boot) or up to a higher profile
    shed_s: float = 5.0  # ramp down to a lower profile or to sleep
    api_down_s: float = 40.0  # a rebooting control board does not answer its API
    overclock_steps: int = catalog.OVERCLOCK_STEPS  # profiles above nominal
    # the lowest profile draws at least this share of nameplate
    min_power_fraction: float = catalog.MIN_POWER_FRACTION
    # thermal: chip temperature rises `rise_c` above ambient at nameplate heat with fans at 100 %
    rise_c: float = 40.0
    tau_s: float = 90.0  # thermal time constant
    target_c: float = 70.0  # fan controller target
    hot_c: float = 80.0  # derating starts
    danger_c: float = 90.0  # hashboards shut down
    min_derate: float = 0.5  # derating never clocks below this share of the profile
    fan_min: float = 0.3  # fan floor while hashing
    aliases: tuple[str, ...] = field(default=())
    # firmware controls, in simulated seconds: how long before the draw follows a command
    tune_down_s: float = 20.0  # Braiins OS autotuner settling on a lower power target
    tune_up_s: float = 40.0  # ... on a higher one
    restart_s: float = 60.0  # mining-process restart: hashing stops until the boards re-init
    restart_api_s: float = 10.0  # ... and the process's API (4028) refuses connections
    low_power_fraction: float = 0.72  # stock Antminer low-power mode: share of nameplate watts
    whatsminer_type: str | None = None  # devdetails Model on Whatsminer firmware ("M50_VH50")
    # (firmware, class pyasic 0.79 picks) for firmware other than LuxOS this model runs
    firmware_classes: tuple[tuple[str, str], ...] = ()

    @property
    def nameplate_j_per_th(self) -> float:
        return self.nameplate_w / self.nameplate_ths

    @property
    def chips(self) -> int:
        return self.hashboards * self.chips_per_board

    def watts_at(self, x: float) -> float:
        """Wall draw when hashing at relative clock x (0 = boards idle)."""
        return catalog.watts_at(self.base_w, self.nameplate_w, x)

    def ths_at(self, x: float) -> float:
        return self.nameplate_ths * x

    @cached_property
    def profiles(self) -> tuple[Profile, ...]:
        """The profile ladder, lowest clock first."""
        out = []
        for mhz in catalog.ladder_mhz(self.nominal_mhz, self.base_w, self.nameplate_w,
                                      min_power_fraction=self.min_power_fraction,
                                      overclock_steps=self.overclock_steps):  # fmt: skip
            x = mhz / self.nominal_mhz
            v = self.nominal_voltage * (V_FLOOR + (1.0 - V_FLOOR) * x)
            out.append(
                Profile(
                    name=f"{mhz}MHz",
                    mhz=mhz,
                    x=x,
                    watts=round(self.watts_at(x)),
                    ths=round(self.ths_at(x), 2),
                    voltage=round(v, 2),
                    step=(mhz - self.nominal_mhz) // STEP_MHZ,
                )
            )
        return tuple(out)

    @property
    def nominal_profile(self) -> Profile:
        return self.profile(f"{self.nominal_mhz}MHz")

    def profile_index(self, name: str) -> int:
        """Index of a profile by name; "default" is the nominal profile."""
        if name.strip().lower() == "default":
            name = f"{self.nominal_mhz}MHz"
        for i, p in enumerate(self.profiles):
            if p.name.lower() == name.strip().lower():
                return i
        raise KeyError(f"{self.key} has no profile {name!r}; expected one of {self.profile_names}")

    def profile(self, name: str) -> Profile:
        return self.profiles[self.profile_index(name)]

    @property
    def profile_names(self) -> list[str]:
        return [p.name for p in self.profiles]

    @property
    def clock_range(self) -> tuple[float, float]:
        """Lowest and highest relative clock the firmware runs (the profile ladder's ends)."""
        return self.profiles[0].x, self.profiles[-1].x

    def watt_range(self) -> tuple[int, int]:
        """Lowest and highest whole-watt target the rig can settle at exactly."""
        lo, hi = self.clock_range
        return math.ceil(self.watts_at(lo)), math.floor(self.watts_at(hi))

    def clock_for_watts(self, watts: float) -> float:
        """The relative clock at which the rig draws `watts` (clamped to the clock range)."""
        lo, hi = self.clock_range
        if watts <= self.watts_at(lo):
            return lo
        if watts >= self.watts_at(hi):
            return hi
        for _ in range(60):  # watts_at is increasing in x: bisect
            mid = (lo + hi) / 2
            if self.watts_at(mid) < watts:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    @property
    def firmwares(self) -> tuple[str, ...]:
        """Firmware this model runs in rigsim: LuxOS, then what firmware_classes lists."""
        return ("luxos", *(fw for fw, _ in self.firmware_classes))

    def pyasic_class_for(self, firmware: str) -> str:
        """The class pyasic 0.79 picks for this model on `firmware`."""
        if firmware == "luxos":
            return self.pyasic_class
        return dict(self.firmware_classes)[firmware]

    def with_overrides(self, **changes: Any) -> RigModel:
        """A copy with some figures replaced (per-site tuning, compressed test timings)."""
        return replace(self, **changes)


# How each catalog model presents itself to pyasic 0.79, which rigsim's firmware emulation
# must match: (class pyasic picks on LuxOS, Whatsminer devdetails Model or None, (firmware,
# class pyasic picks) for the other firmware the model runs here). The figures are the
# catalog's (plumbing/rigs.toml); a catalog model missing here is an error at import.
IDENTITIES: dict[str, tuple[str, str | None, tuple[tuple[str, str], ...]]] = {
    "S19": ("LUXMinerS19", None, (("braiins", "BOSMinerS19"), ("antminer", "BMMinerS19"))),
    "S19jPro": ("LUXMinerS19jPro", None,
                (("braiins", "BOSMinerS19jPro"), ("antminer", "BMMinerS19jPro"))),
    "S19XP": ("LUXMinerS19XP", None,
              (("braiins", "BOSMinerS19XP"), ("antminer", "BMMinerS19XP"))),
    "S21": ("LUXMinerS21", None, (("braiins", "BOSMinerS21"), ("antminer", "BMMinerS21"))),
    "S21XP": ("LUXMiner", None, (("antminer", "BMMinerS21XP"),)),
    "M50": ("LUXMiner", "M50_VH50", (("whatsminer", "BTMinerM50VH50"),)),
    "M60": ("LUXMiner", "M60_VK10", (("whatsminer", "BTMinerM60VK10"),)),
}  # fmt: skip


def from_catalog(entry: catalog.Nameplate) -> RigModel:
    """The emulated model of a catalog entry (rigsim's own figures at their defaults)."""
    pyasic_class, whatsminer_type, firmware_classes = IDENTITIES[entry.key]
    return RigModel(
        key=entry.key, luxos_type=entry.name, pyasic_class=pyasic_class,
        nameplate_ths=entry.nameplate_ths, nameplate_w=entry.nameplate_w,
        hashboards=entry.hashboards, chips_per_board=entry.chips_per_board, fans=entry.fans,
        fan_max_rpm=entry.fan_max_rpm, nominal_mhz=entry.nominal_mhz,
        nominal_voltage=entry.nominal_voltage, base_w=entry.base_w, sleep_w=entry.sleep_w,
        boot_s=entry.boot_s, whatsminer_type=whatsminer_type,
        firmware_classes=firmware_classes,
    )  # fmt: skip


MODELS: dict[str, RigModel] = {key: from_catalog(e) for key, e in catalog.models().items()}


def model_by_name(name: str) -> RigModel:
    """Look a model up by key or by a human spelling ("S19j Pro", "antminer s19j pro")."""
    return MODELS[catalog.lookup(name).key]


def _self_check() -> None:
    """Catch a bad table entry at import time rather than deep inside a simulation."""
    for m in MODELS.values():
        p = m.nominal_profile
        assert math.isclose(p.watts, m.nameplate_w, abs_tol=1), m.key
        assert math.isclose(p.ths, m.nameplate_ths, abs_tol=0.01), m.key
        lowest = m.profiles[0]
        assert 0.3 <= lowest.watts / m.nameplate_w <= 0.5, (m.key, lowest)


_self_check()
