"""The rig catalog (plumbing/rigs.toml) against what the manufacturers publish, and the
one catalog fleetd and rigsim both read.

PUBLISHED is entered here once, from the makers' specification of each model at its
nominal (stock) mode, not from the code: hashrate in TH/s, wall power in W and efficiency
in J/TH. Bitmain states its figures as hashrate ±3 % and power/efficiency ±5 % (at 25 °C
ambient); MicroBT gives a typical figure with a similar spread. The catalog may sit
anywhere inside those tolerances (a single value stands for a batch), no further.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from fleetd.models import DEFAULT_CATALOG
from plumbing import catalog
from rigsim.models import MODELS

# model: (TH/s, W, J/TH, source). Bitmain publishes on its shop's product pages
# (shop.bitmain.com, "Specifications"), MicroBT on its product pages (microbt.com); the
# pages named beside them repeat the same figures.
PUBLISHED: dict[str, tuple[float, float, float, str]] = {
    "S19": (95.0, 3250.0, 34.2, "Bitmain Antminer S19 95T specifications; miningstore.com "
            "'The Definitive Guide to Antminer S19 Series' (95 TH/s, 3250 W, 34 W/TH)"),
    "S19jPro": (104.0, 3068.0, 29.5, "Bitmain Antminer S19j Pro 104T specifications "
                "(104 TH/s, 3068 W, 29.5 J/TH); miningstore.com S19-series guide"),
    "S19XP": (140.0, 3010.0, 21.5, "Bitmain Antminer S19 XP 140T specifications; "
              "miningstore.com 'Is the Antminer S19 XP worth it?' (140 TH/s, 3010 W)"),
    "S21": (200.0, 3500.0, 17.5, "Bitmain Antminer S21 200T specifications (200 TH/s, "
            "17.5 J/T); hackernoon.com BTCWire 'Antminer S21 review' quoting them"),
    "S21XP": (270.0, 3645.0, 13.5, "Bitmain Antminer S21 XP 270T specifications (270 TH/s "
              "±3 %, 13.5 J/TH ±5 % on the wall at 25 °C); btcminermarketplace.com"),
    "M50": (114.0, 3306.0, 29.0, "MicroBT WhatsMiner M50 specifications at launch "
            "(114 TH/s at 29 J/T)"),
    "M60": (172.0, 3422.0, 19.9, "MicroBT WhatsMiner M60 specifications at launch "
            "(172 TH/s at 19.9 J/T)"),
}  # fmt: skip
HASHRATE_TOLERANCE = 0.03
POWER_TOLERANCE = 0.05


def test_every_catalog_model_has_published_figures() -> None:
    assert set(catalog.models()) == set(PUBLISHED)


@pytest.mark.parametrize("key", list(PUBLISHED))
def test_nameplates_match_the_manufacturers(key: str) -> None:
    ths, watts, j_per_th, source = PUBLISHED[key]
    assert source  # every figure says where it came from
    assert math.isclose(watts / ths, j_per_th, rel_tol=0.01), "the published figures agree"
    entry = catalog.models()[key]
    assert entry.nameplate_ths == pytest.approx(ths, rel=HASHRATE_TOLERANCE)
    assert entry.nameplate_w == pytest.approx(watts, rel=POWER_TOLERANCE)
    assert entry.j_per_th == pytest.approx(j_per_th, rel=POWER_TOLERANCE)


def test_fleetd_and_rigsim_read_the_one_catalog() -> None:
    """Both daemons take every figure from plumbing/rigs.toml (neither imports the other)."""
    for key, entry in catalog.models().items():
        planned, emulated = DEFAULT_CATALOG.model(key), MODELS[key]
        for model in (planned, emulated):
            assert (model.nameplate_ths, model.nameplate_w, model.sleep_w, model.boot_s) == (
                entry.nameplate_ths, entry.nameplate_w, entry.sleep_w, entry.boot_s)
        # fleetd plans with the very profile ladder the emulated LuxOS rig lists
        assert [(p.name, p.watts, p.ths) for p in planned.profiles] == \
            [(p.name, float(p.watts), p.ths) for p in emulated.profiles]  # fmt: skip
        assert DEFAULT_CATALOG.model(entry.name).key == key == catalog.lookup(entry.name).key


def test_a_bad_catalog_entry_is_named() -> None:
    good = {"name": "X", "nameplate_ths": 1.0, "nameplate_w": 100.0, "nominal_mhz": 500,
            "nominal_voltage": 13.0, "base_w": 10.0, "sleep_w": 5.0, "boot_s": 60.0,
            "hashboards": 3, "chips_per_board": 10, "fans": 2, "fan_max_rpm": 6000}  # fmt: skip
    assert catalog.parse({"X": good})["X"].j_per_th == 100.0
    with pytest.raises(catalog.CatalogError, match=r"X\.nameplate_w: expected > 0"):
        catalog.parse({"X": good | {"nameplate_w": 0.0}})
    with pytest.raises(catalog.CatalogError, match=r"X\.fans: expected int"):
        catalog.parse({"X": good | {"fans": "two"}})
    with pytest.raises(catalog.CatalogError, match=r"\[X\]: expected exactly the keys"):
        catalog.parse({"X": good | {"colour": "red"}})
    with pytest.raises(KeyError, match="unknown rig model 'S9'; expected one of S19"):
        catalog.lookup("S9")


def test_the_catalog_ships_with_the_package() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]
    assert "rigs.toml" in data["plumbing"]
