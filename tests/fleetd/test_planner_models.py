"""The model catalog fleetd plans with."""

from __future__ import annotations

import numpy as np
import pytest

from fleetd.models import (
    DEFAULT_CATALOG,
    Firmware,
    ModelCatalog,
    ModelError,
    RigModel,
    ladder_model,
)
from plumbing import catalog

C = DEFAULT_CATALOG


def test_nameplate_figures_and_floors() -> None:
    """fleetd plans with the rig catalog (plumbing/rigs.toml) that rigsim emulates."""
    assert [m.key for m in C.models] == list(catalog.models())
    for key, entry in catalog.models().items():
        ths, w = entry.nameplate_ths, entry.nameplate_w
        m = C.model(key)
        assert (m.nameplate_ths, m.nameplate_w) == (ths, w)
        assert 0.3 <= m.min_w / m.nameplate_w <= 0.5, "usable floor 30-50 % of nameplate"
        assert m.modes[1].watts == w and m.modes[1].ths == ths
        assert 20 <= m.sleep_w <= 30


def test_underclocking_lowers_j_per_th_and_curves_are_concave() -> None:
    for m in C.models:
        w = np.array([p.watts for p in m.curve])
        h = np.array([p.ths for p in m.curve])
        jth = w / h
        assert np.all(np.diff(jth) > 0)
        slopes = np.diff(h) / np.diff(w)
        assert np.all(np.diff(slopes) <= 1e-12)
        assert m.ths_at(m.min_w - 1) == 0.0 and m.ths_at(m.nameplate_w) == pytest.approx(
            m.nameplate_ths
        )


def test_lookup_by_spelling() -> None:
    assert C.model_id("Antminer S19j Pro") == C.model_id("s19jpro") == C.model_id("S19j Pro")
    with pytest.raises(KeyError, match="unknown rig model"):
        C.model_id("S9")


def test_tables_keep_only_hull_points_and_map_back() -> None:
    bumpy = RigModel.from_points(
        "Bumpy", nameplate_ths=100, nameplate_w=3000,
        curve=[(1000, 40), (2000, 75), (3000, 100)],
        profiles=[("a", 1000, 40), ("b", 1500, 45), ("c", 2000, 75), ("d", 3000, 100)],
    )  # fmt: skip
    cat = ModelCatalog((bumpy,))
    t = cat.tables
    row = 0 * 3 + Firmware.PROFILES
    kept = t.index[row, : t.count[row]]
    assert [bumpy.profiles[i].name for i in kept] == ["a", "c", "d"], "b lies under the hull"


def test_bad_models_are_named() -> None:
    with pytest.raises(ModelError, match="concave"):
        RigModel.from_points("X", nameplate_ths=1, nameplate_w=3,
                             curve=[(100, 1), (200, 1.1), (300, 2)])  # fmt: skip
    with pytest.raises(ModelError, match="strictly increase"):
        RigModel.from_points("X", nameplate_ths=1, nameplate_w=3, curve=[(200, 1), (100, 2)])
    with pytest.raises(ModelError, match="sleep_w"):
        ladder_model("X", nameplate_ths=1, nameplate_w=100, nominal_mhz=500, sleep_w=-1)
    with pytest.raises(ModelError, match="listed twice"):
        ModelCatalog((C.models[0], C.models[0]))


def test_profiles_match_the_emulated_rigs() -> None:
    """fleetd may not import rigsim, so its figures are written out twice; keep them equal."""
    from rigsim import models as rigsim_models

    for key, sim in rigsim_models.MODELS.items():
        mine = C.model(key)
        assert [(p.name, p.watts, p.ths) for p in sim.profiles] == [
            (p.name, p.watts, p.ths) for p in mine.profiles
        ], key
        assert (sim.sleep_w, sim.boot_s) == (mine.sleep_w, mine.boot_s), key
