"""The rig catalog (plumbing/rigs.toml) against what the manufacturers publish, and the
one catalog fleetd and rigsim both read.

PUBLISHED is entered once, in published_rigs.toml beside this file, from the makers'
specification of each model at its nominal (stock) mode, not from the code: hashrate in
TH/s, wall power in W and efficiency in J/TH, each with its source. Bitmain states its
figures as hashrate ±3 % and power/efficiency ±5 % (at 25 °C ambient); MicroBT gives a
typical figure with a similar spread. The catalog may sit anywhere inside those tolerances
(a single value stands for a batch), no further.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from fleetd.models import DEFAULT_CATALOG
from plumbing import catalog
from rigsim.models import MODELS

# model: (TH/s, W, J/TH, source), as published_rigs.toml beside this file gives them
PUBLISHED: dict[str, tuple[float, float, float, str]] = {
    model: (row["ths"], row["watts"], row["j_per_th"], row["source"])
    for model, row in tomllib.loads(
        (Path(__file__).parent / "published_rigs.toml").read_text()).items()
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
