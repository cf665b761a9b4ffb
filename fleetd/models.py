"""Rig model catalog for fleetd: what each model can be told to do and what it yields.

fleetd plans power, so it needs, per model, the watts-to-hashrate curve and the set of
operating points each firmware family accepts:

- continuous (Braiins OS): any watt target between the lowest and highest point of the
  curve; hashrate between two breakpoints is read by linear interpolation. The curve is
  concave (underclocking lowers J/TH), so the interpolation never overstates hashrate.
- profiles (LuxOS): a ladder of frequency profiles 25 MHz apart.
- modes (stock Antminer): "low" and "normal" only.

Sleep is always available and draws `sleep_w`. The step from sleep to the lowest running
point is the one non-convex part of the curve; the planner handles it.

The default catalog is plumbing/rigs.toml (plumbing.catalog), the file rigsim emulates
its rigs from, so fleetd plans with the points the emulated rigs serve (hashrate
proportional to clock, power = base + boards * x * v(x)^2 with a voltage that drops with
the clock). A real site feeds its own calibrated points through `RigModel.from_points`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np

from plumbing import catalog
from plumbing.catalog import normalise as _normalise

# Bitmain stock firmware's low-power mode: this share of the nominal draw (as rigsim's
# emulated stock Antminers run it, rigsim.models.RigModel.low_power_fraction)
STOCK_LOW_POWER_FRACTION = 0.72


class ModelError(ValueError):
    """A rig model or catalog entry is inconsistent (named field, what was expected)."""


class Firmware(IntEnum):
    """What a rig's firmware accepts as a power command."""

    CONTINUOUS = 0  # a watt target (Braiins OS)
    PROFILES = 1  # discrete frequency profiles (LuxOS)
    MODES = 2  # sleep / low / normal (stock)


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One selectable point: a LuxOS profile or a stock mode."""

    name: str
    watts: float
    ths: float


def _check_points(key: str, what: str, points: Sequence[OperatingPoint]) -> None:
    if not points:
        raise ModelError(f"model {key!r}: {what} is empty; expected at least one point")
    watts = np.array([p.watts for p in points], dtype=float)
    ths = np.array([p.ths for p in points], dtype=float)
    if not (np.all(np.isfinite(watts)) and np.all(np.isfinite(ths))):
        raise ModelError(f"model {key!r}: {what} has a non-finite watts or ths value")
    if np.any(np.diff(watts) <= 0):
        raise ModelError(f"model {key!r}: {what} watts must strictly increase, got {watts}")
    if np.any(ths <= 0):
        raise ModelError(f"model {key!r}: {what} ths must be > 0, got {ths}")


@dataclass(frozen=True)
class RigModel:
    """Static figures of one rig model, as fleetd plans with them."""

    key: str
    nameplate_ths: float
    nameplate_w: float
    sleep_w: float
    boot_s: float
    curve: tuple[OperatingPoint, ...]  # continuous breakpoints, watts ascending
    profiles: tuple[OperatingPoint, ...]  # LuxOS profiles, watts ascending
    modes: tuple[OperatingPoint, ...]  # stock (low, normal)
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("nameplate_ths", "nameplate_w", "boot_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ModelError(f"model {self.key!r}: {name} must be > 0, got {value!r}")
        if not (np.isfinite(self.sleep_w) and self.sleep_w >= 0):
            raise ModelError(f"model {self.key!r}: sleep_w must be >= 0, got {self.sleep_w!r}")
        for what in ("curve", "profiles", "modes"):
            points = getattr(self, what)
            _check_points(self.key, what, points)
            if points[0].watts <= self.sleep_w:
                raise ModelError(
                    f"model {self.key!r}: {what} lowest watts {points[0].watts} must exceed "
                    f"sleep_w {self.sleep_w}"
                )
        w = np.array([p.watts for p in self.curve])
        h = np.array([p.ths for p in self.curve])
        if len(w) >= 3:
            slopes = np.diff(h) / np.diff(w)
            if np.any(np.diff(slopes) > 1e-9 * max(1.0, float(np.max(np.abs(slopes))))):
                raise ModelError(
                    f"model {self.key!r}: curve must be concave (TH per extra W must not rise "
                    f"with power); slopes {slopes}"
                )

    @property
    def min_w(self) -> float:
        return self.curve[0].watts

    @property
    def max_w(self) -> float:
        return self.curve[-1].watts

    def points(self, firmware: Firmware) -> tuple[OperatingPoint, ...]:
        return {
            Firmware.CONTINUOUS: self.curve,
            Firmware.PROFILES: self.profiles,
            Firmware.MODES: self.modes,
        }[Firmware(firmware)]

    def ths_at(self, watts: float | np.ndarray) -> np.ndarray:
        """Hashrate on the continuous curve; 0 below the lowest running point (asleep)."""
        w = np.asarray(watts, dtype=float)
        cw = np.array([p.watts for p in self.curve])
        ch = np.array([p.ths for p in self.curve])
        out = np.interp(np.minimum(w, cw[-1]), cw, ch)
        return np.where(w < cw[0] - 1e-9, 0.0, out)

    @classmethod
    def from_points(
        cls,
        key: str,
        *,
        nameplate_ths: float,
        nameplate_w: float,
        curve: Iterable[tuple[float, float]],
        profiles: Iterable[tuple[str, float, float]] | None = None,
        modes: Iterable[tuple[str, float, float]] | None = None,
        sleep_w: float = 25.0,
        boot_s: float = 150.0,
    ) -> RigModel:
        """A model from measured points: curve (W, TH/s); profiles/modes (name, W, TH/s).

        Without profiles the curve points double as profiles; without modes, the lowest
        and the nameplate-nearest curve points serve as "low" and "normal".
        """
        cpts = tuple(OperatingPoint(f"{w:.0f}W", float(w), float(h)) for w, h in curve)
        if profiles is None:
            ppts = cpts
        else:
            ppts = tuple(OperatingPoint(n, float(w), float(h)) for n, w, h in profiles)
        if modes is None:
            normal = min(cpts, key=lambda p: abs(p.watts - nameplate_w))
            low = cpts[0] if cpts[0] is not normal else None
            mpts = ((OperatingPoint("low", low.watts, low.ths),) if low else ()) + (
                OperatingPoint("normal", normal.watts, normal.ths),
            )
        else:
            mpts = tuple(OperatingPoint(n, float(w), float(h)) for n, w, h in modes)
        return cls(
            key=key, nameplate_ths=float(nameplate_ths), nameplate_w=float(nameplate_w),
            sleep_w=float(sleep_w), boot_s=float(boot_s), curve=cpts, profiles=ppts, modes=mpts,
        )  # fmt: skip


def ladder_model(
    key: str,
    *,
    nameplate_ths: float,
    nameplate_w: float,
    nominal_mhz: int,
    base_w: float = 120.0,
    sleep_w: float = 25.0,
    boot_s: float = 150.0,
    overclock_steps: int = catalog.OVERCLOCK_STEPS,
    min_power_fraction: float = catalog.MIN_POWER_FRACTION,
    low_mode_fraction: float = STOCK_LOW_POWER_FRACTION,
    aliases: tuple[str, ...] = (),
) -> RigModel:
    """A model whose points follow the clock/voltage physics of a frequency ladder.

    Profiles are 25 MHz apart from the lowest clock that still draws at least
    `min_power_fraction` of nameplate up to `overclock_steps` above nominal; watts are
    rounded to whole watts and TH/s to 0.01 as LuxOS lists them. The continuous curve uses
    the same points; stock "low" draws `low_mode_fraction` of nameplate (Bitmain's
    low-power mode is a share of the nominal draw, not a profile of the ladder), its
    hashrate read off the curve between the two profiles around it (never more than the
    physics gives: the curve is concave).
    """

    clocks = catalog.ladder_mhz(nominal_mhz, base_w, nameplate_w,
                                min_power_fraction=min_power_fraction,
                                overclock_steps=overclock_steps)  # fmt: skip
    ladder = []
    for mhz in clocks:
        x = mhz / nominal_mhz
        watts = catalog.watts_at(base_w, nameplate_w, x)
        ladder.append(OperatingPoint(f"{mhz}MHz", float(round(watts)), round(nameplate_ths * x, 2)))
    nominal = ladder[clocks.index(nominal_mhz)]
    low_w = float(round(low_mode_fraction * nameplate_w))
    low_ths = float(np.interp(low_w, [p.watts for p in ladder], [p.ths for p in ladder]))
    modes = (
        OperatingPoint("low", low_w, math.floor(low_ths * 100) / 100),
        OperatingPoint("normal", nominal.watts, nominal.ths),
    )
    return RigModel(
        key=key, nameplate_ths=nameplate_ths, nameplate_w=nameplate_w, sleep_w=sleep_w,
        boot_s=boot_s, curve=tuple(ladder), profiles=tuple(ladder), modes=modes, aliases=aliases,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PointTables:
    """Every (model, firmware) point set packed into padded arrays for vectorised planning.

    Row `model_id * 3 + firmware`. Only the points on the upper concave hull of a set are
    kept (a profile below the hull is never the best use of its watts); `index` maps a
    kept point back to its position in the model's own list. Rows are padded by repeating
    the last point, so padded steps have zero width.
    """

    watts: np.ndarray  # (n_tables, P) float64
    ths: np.ndarray  # (n_tables, P) float64
    count: np.ndarray  # (n_tables,) int64: real points per row
    index: np.ndarray  # (n_tables, P) int16: position in RigModel.points(firmware)
    divisible: np.ndarray  # (n_tables,) bool: any watts between points may be commanded


def _upper_hull(watts: np.ndarray, ths: np.ndarray) -> list[int]:
    """Indices of the rising upper concave hull of points sorted by watts."""
    keep: list[int] = []
    for i in range(len(watts)):
        if keep and ths[i] <= ths[keep[-1]]:
            continue  # more watts for no more hashrate
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            # drop b when it lies on or below the chord a -> i
            cross = (watts[b] - watts[a]) * (ths[i] - ths[a]) - (ths[b] - ths[a]) * (
                watts[i] - watts[a]
            )
            if cross >= 0:
                keep.pop()
            else:
                break
        keep.append(i)
    return keep


class _Column:
    """A figure of every model of a ModelCatalog as one array, built on first use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, catalog: ModelCatalog, owner: type | None = None) -> np.ndarray:
        column = np.array([getattr(m, self.name) for m in catalog.models])
        vars(catalog)[self.name] = column  # later reads find it on the instance
        return column


@dataclass(frozen=True)
class ModelCatalog:
    """The models a site knows; a rig refers to its model by position (`model_id`)."""

    models: tuple[RigModel, ...]

    def __post_init__(self) -> None:
        if not self.models:
            raise ModelError("catalog: models is empty; expected at least one model")
        seen: set[str] = set()
        for m in self.models:
            names = {_normalise(m.key), *(_normalise(a) for a in m.aliases)}
            if names & seen:
                raise ModelError(f"catalog: model {m.key!r} is listed twice")
            seen |= names

    def __len__(self) -> int:
        return len(self.models)

    def model_id(self, name: str) -> int:
        """Position of a model by key or alias, spelling-insensitive ("S19j Pro")."""
        wanted = _normalise(name)
        for i, m in enumerate(self.models):
            if wanted == _normalise(m.key) or wanted in {_normalise(a) for a in m.aliases}:
                return i
        raise KeyError(
            f"unknown rig model {name!r}; expected one of {', '.join(m.key for m in self.models)}"
        )

    def model(self, name_or_id: str | int) -> RigModel:
        if isinstance(name_or_id, str):
            return self.models[self.model_id(name_or_id)]
        return self.models[name_or_id]

    # per-model figures as arrays indexed by model_id (the planner's vectorised lookups)
    nameplate_w = _Column()
    nameplate_ths = _Column()
    sleep_w = _Column()
    boot_s = _Column()
    max_w = _Column()

    @cached_property
    def unknown_w(self) -> float:
        """What a rig of an unknown model counts for: the largest draw in the catalog."""
        return float(max(self.nameplate_w.max(), self.max_w.max()))

    @cached_property
    def tables(self) -> PointTables:
        sets = [m.points(fw) for m in self.models for fw in Firmware]
        hulls = []
        for pts in sets:
            w = np.array([p.watts for p in pts])
            h = np.array([p.ths for p in pts])
            hulls.append((w, h, _upper_hull(w, h)))
        width = max(len(k) for _, _, k in hulls)
        n = len(sets)
        watts = np.zeros((n, width))
        ths = np.zeros((n, width))
        index = np.zeros((n, width), dtype=np.int16)
        count = np.zeros(n, dtype=np.int64)
        for r, (w, h, keep) in enumerate(hulls):
            k = np.array(keep + [keep[-1]] * (width - len(keep)))
            watts[r], ths[r], index[r], count[r] = w[k], h[k], k, len(keep)
        divisible = np.array([fw == Firmware.CONTINUOUS for _ in self.models for fw in Firmware])
        return PointTables(watts, ths, count, index, divisible)

    @classmethod
    def default(cls) -> ModelCatalog:
        return DEFAULT_CATALOG


def catalog_model(entry: catalog.Nameplate) -> RigModel:
    """fleetd's model of a plumbing/rigs.toml entry (its name is an alias)."""
    return ladder_model(
        entry.key, nameplate_ths=entry.nameplate_ths, nameplate_w=entry.nameplate_w,
        nominal_mhz=entry.nominal_mhz, base_w=entry.base_w, sleep_w=entry.sleep_w,
        boot_s=entry.boot_s, aliases=(entry.name,),
    )  # fmt: skip


# The rig catalog (plumbing/rigs.toml), the one rigsim emulates.
DEFAULT_MODELS: tuple[RigModel, ...] = tuple(map(catalog_model, catalog.models().values()))

DEFAULT_CATALOG = ModelCatalog(DEFAULT_MODELS)
