"""Rig models: the catalog's nameplate figures (tests/plumbing/test_catalog.py holds them
against the manufacturers'), LuxOS profile ladders, pyasic's model mapping."""

from __future__ import annotations

import itertools

import pytest
from pyasic.miners.factory import MINER_CLASSES, MinerTypes

from plumbing import catalog
from rigsim.models import MODELS, STEP_MHZ, model_by_name


@pytest.mark.parametrize("key", list(MODELS))
def test_nominal_profile_is_the_nameplate(key: str) -> None:
    m = MODELS[key]
    entry = catalog.models()[key]  # the rig catalog, plumbing/rigs.toml
    ths, watts = entry.nameplate_ths, entry.nameplate_w
    assert (m.nameplate_ths, m.nameplate_w, m.luxos_type) == (ths, watts, entry.name)
    assert m.nominal_profile.ths == pytest.approx(ths)
    assert m.nominal_profile.watts == pytest.approx(watts, abs=1)


@pytest.mark.parametrize("key", list(MODELS))
def test_profile_ladder_25mhz_steps_floor_and_efficiency(key: str) -> None:
    m = MODELS[key]
    mhz = [p.mhz for p in m.profiles]
    assert all(b - a == STEP_MHZ for a, b in itertools.pairwise(mhz))
    assert all(p.name == f"{p.mhz}MHz" for p in m.profiles)
    floor = m.profiles[0].watts / m.nameplate_w
    assert 0.3 <= floor <= 0.5
    watts = [p.watts for p in m.profiles]
    jth = [p.j_per_th for p in m.profiles]
    assert watts == sorted(watts)
    assert all(a < b for a, b in itertools.pairwise(jth))  # underclocking lowers J/TH
    assert m.profiles[0].j_per_th < 0.8 * m.nameplate_j_per_th


@pytest.mark.parametrize("key", list(MODELS))
def test_pyasic_maps_the_luxos_type_string_as_recorded(key: str) -> None:
    """pyasic 0.79 picks the class from VERSION Type (split at ' (', upper-cased)."""
    m = MODELS[key]
    table = MINER_CLASSES[MinerTypes.LUX_OS]
    cls = table.get(m.luxos_type.upper(), table[None])
    assert cls.__name__ == m.pyasic_class
    if m.pyasic_class != "LUXMiner":
        assert cls.expected_hashboards == m.hashboards
        assert cls.expected_chips == m.chips_per_board
        assert cls.expected_fans == m.fans


def test_lookup_by_human_spelling() -> None:
    assert model_by_name("Antminer S19j Pro").key == "S19jPro"
    assert model_by_name("s21 xp").key == "S21XP"
    with pytest.raises(KeyError, match="expected one of"):
        model_by_name("S9")
