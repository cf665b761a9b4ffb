"""Rig models: nameplate figures, LuxOS profiles and the power-to-hashrate curve.

A LuxOS rig does not take a watt target; it runs one of a ladder of frequency
profiles 25 MHz apart ("290MHz", "315MHz", ...). Hashrate scales with frequency,
while power scales with frequency times voltage squared, and voltage can drop as
the clock drops. So underclocking lowers J/TH, and the ladder's watts are a convex
curve in hashrate. This module turns a model's nameplate figures into that ladder.

The curve, for x = f / f_nominal (x_eff below for a derated rig):
    hashrate(x) = nameplate_ths * x
    power(x)    = base_w + (nameplate_w - base_w) * g(x),   g(x) = x * v(x)^2
    v(x)        = V_FLOOR + (1 - V_FLOOR) * x                (relative voltage)
`base_w` is the control board and fans, drawn whenever the rig is up. With
V_FLOOR = 0.55 a rig at 55 % clock draws about 37 % of its nameplate watts at
about 70 % of its nameplate J/TH, matching what underclocked LuxOS rigs report.

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
import re
from dataclasses import dataclass, field, replace
from functools import cached_property

STEP_MHZ = 25
V_FLOOR = 0.55


def power_fraction(x: float) -> float:
    """g(x): the share of the boards' nameplate power drawn at relative clock x."""
    v = V_FLOOR + (1.0 - V_FLOOR) * x
    return x * v * v


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
    overclock_steps: int = 1  # profiles above nominal
    min_power_fraction: float = 0.35  # lowest profile draws at least this share of nameplate
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
        return self.base_w + (self.nameplate_w - self.base_w) * power_fraction(x)

    def ths_at(self, x: float) -> float:
        return self.nameplate_ths * x

    @cached_property
    def profiles(self) -> tuple[Profile, ...]:
        """The profile ladder, lowest clock first."""
        lowest = self.nominal_mhz
        while lowest - STEP_MHZ > 0:
            x = (lowest - STEP_MHZ) / self.nominal_mhz
            if self.watts_at(x) < self.min_power_fraction * self.nameplate_w:
                break
            lowest -= STEP_MHZ
        out = []
        for mhz in range(lowest, self.nominal_mhz + STEP_MHZ * self.overclock_steps + 1, STEP_MHZ):
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

    def with_overrides(self, **changes: float) -> RigModel:
        """A copy with some figures replaced (per-site tuning, compressed test timings)."""
        return replace(self, **changes)


# Nameplate figures: DESIGN.md "Fleet facts". Chip and fan counts as pyasic 0.79 expects them
# (pyasic/miners/device/models); nominal clocks and voltages are typical stock values.
MODELS: dict[str, RigModel] = {
    m.key: m
    for m in (
        RigModel(
            key="S19", luxos_type="Antminer S19", pyasic_class="LUXMinerS19",
            nameplate_ths=95.0, nameplate_w=3250.0, hashboards=3, chips_per_board=76,
            fans=4, fan_max_rpm=6000, nominal_mhz=650, nominal_voltage=13.8,
            firmware_classes=(("braiins", "BOSMinerS19"), ("antminer", "BMMinerS19")),
        ),
        RigModel(
            key="S19jPro", luxos_type="Antminer S19j Pro", pyasic_class="LUXMinerS19jPro",
            nameplate_ths=104.0, nameplate_w=3050.0, hashboards=3, chips_per_board=126,
            fans=4, fan_max_rpm=6000, nominal_mhz=525, nominal_voltage=13.6,
            firmware_classes=(("braiins", "BOSMinerS19jPro"), ("antminer", "BMMinerS19jPro")),
        ),
        RigModel(
            key="S19XP", luxos_type="Antminer S19 XP", pyasic_class="LUXMinerS19XP",
            nameplate_ths=140.0, nameplate_w=3010.0, hashboards=3, chips_per_board=110,
            fans=4, fan_max_rpm=6000, nominal_mhz=500, nominal_voltage=13.2,
            firmware_classes=(("braiins", "BOSMinerS19XP"), ("antminer", "BMMinerS19XP")),
        ),
        RigModel(
            key="S21", luxos_type="Antminer S21", pyasic_class="LUXMinerS21",
            nameplate_ths=200.0, nameplate_w=3500.0, hashboards=3, chips_per_board=108,
            fans=4, fan_max_rpm=6600, nominal_mhz=500, nominal_voltage=13.0, boot_s=120.0,
            firmware_classes=(("braiins", "BOSMinerS21"), ("antminer", "BMMinerS21")),
        ),
        RigModel(
            key="S21XP", luxos_type="Antminer S21 XP", pyasic_class="LUXMiner",
            nameplate_ths=270.0, nameplate_w=3645.0, hashboards=3, chips_per_board=91,
            fans=4, fan_max_rpm=6600, nominal_mhz=500, nominal_voltage=12.8, boot_s=120.0,
            firmware_classes=(("antminer", "BMMinerS21XP"),),
        ),
        RigModel(
            key="M50", luxos_type="Whatsminer M50", pyasic_class="LUXMiner",
            nameplate_ths=114.0, nameplate_w=3300.0, hashboards=3, chips_per_board=105,
            fans=2, fan_max_rpm=7000, nominal_mhz=550, nominal_voltage=13.4,
            base_w=100.0, boot_s=180.0, whatsminer_type="M50_VH50",
            firmware_classes=(("whatsminer", "BTMinerM50VH50"),),
        ),
        RigModel(
            key="M60", luxos_type="Whatsminer M60", pyasic_class="LUXMiner",
            nameplate_ths=172.0, nameplate_w=3400.0, hashboards=3, chips_per_board=164,
            fans=2, fan_max_rpm=7000, nominal_mhz=550, nominal_voltage=13.0,
            base_w=100.0, boot_s=180.0, whatsminer_type="M60_VK10",
            firmware_classes=(("whatsminer", "BTMinerM60VK10"),),
        ),
    )
}  # fmt: skip


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower().removeprefix("antminer").removeprefix("whatsminer")


def model_by_name(name: str) -> RigModel:
    """Look a model up by key or by a human spelling ("S19j Pro", "antminer s19j pro")."""
    wanted = _normalise(name)
    for m in MODELS.values():
        if _normalise(m.key) == wanted:
            return m
    raise KeyError(f"unknown rig model {name!r}; expected one of {', '.join(MODELS)}")


def _self_check() -> None:
    """Catch a bad table entry at import time rather than deep inside a simulation."""
    for m in MODELS.values():
        p = m.nominal_profile
        assert math.isclose(p.watts, m.nameplate_w, abs_tol=1), m.key
        assert math.isclose(p.ths, m.nameplate_ths, abs_tol=0.01), m.key
        lowest = m.profiles[0]
        assert 0.3 <= lowest.watts / m.nameplate_w <= 0.5, (m.key, lowest)


_self_check()
