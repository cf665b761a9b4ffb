"""Fleet TOML: the shipped configs load; bad files fail naming file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigsim.addresses import rebase
from rigsim.config import ConfigError, load_fleet_config
from rigsim.fleet import Fleet

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

GOOD = """
[sites.a]
ambient_c = 20
[[rigs]]
model = "S19j Pro"
count = 3
site = "a"
addresses = "127.9.0.1"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_fleet_config(path)
    msg = str(exc.value)
    assert str(path) in msg  # every error names the file
    return msg


def test_demo_fleet_is_a_few_hundred_mixed_rigs_over_two_sites() -> None:
    cfg = load_fleet_config(CONFIGS / "fleet-demo.toml")
    assert set(cfg.sites) == {"north", "south"}
    assert 200 <= cfg.total_rigs <= 1000
    assert len({g.model for g in cfg.rigs}) == 7
    fleet = Fleet(cfg)
    assert {r.address.split(".")[1] for r in fleet.rigs if r.site == "north"} == {"1"}
    assert {r.address.split(".")[1] for r in fleet.rigs if r.site == "south"} == {"2"}
    assert fleet.faulty  # some rigs carry faults
    assert cfg.model_for("S21").boot_s == 30


def test_small_fleet_loads_with_compressed_timings() -> None:
    cfg = load_fleet_config(CONFIGS / "fleet-small.toml")
    assert cfg.total_rigs < 20
    assert all(cfg.model_for(g.model).boot_s <= 1.0 for g in cfg.rigs)


def test_model_names_are_forgiving_and_normalised(tmp_path: Path) -> None:
    cfg = load_fleet_config(write(tmp_path, GOOD))
    assert cfg.rigs[0].model == "S19jPro"


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace('"S19j Pro"', '"S9"'))
    assert "rigs[0].model" in msg and "S21XP" in msg and "'S9'" in msg


def test_non_loopback_address_is_refused(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("127.9.0.1", "10.0.0.1"))
    assert "rigs[0].addresses" in msg and "loopback" in msg


def test_range_must_match_count(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace('"127.9.0.1"', '"127.9.0.1-127.9.0.9"'))
    assert "rigs[0].addresses" in msg and "count is 3" in msg


def test_overlapping_groups_are_named(tmp_path: Path) -> None:
    text = GOOD + '[[rigs]]\nmodel = "S21"\ncount = 2\nsite = "a"\naddresses = "127.9.0.3"\n'
    msg = error_of(tmp_path, text)
    assert "rigs[1].addresses" in msg and "overlaps rigs[0]" in msg


def test_undefined_site(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace('site = "a"', 'site = "b"'))
    assert "rigs[0].site" in msg and "[sites.b]" in msg


def test_unknown_profile(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD + 'profile = "100MHz"\n')
    assert "rigs[0].profile" in msg and "525MHz" in msg


def test_typo_in_a_key_is_named(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD + "cuont = 4\n")
    assert "rigs[0].cuont: unknown key" in msg


def test_out_of_range_value_names_key_and_value(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD + "faults = { api_delay_s = -1 }\n")
    assert "rigs[0].faults.api_delay_s" in msg and "greater than or equal to 0" in msg
    assert "(got -1)" in msg


def test_missing_rigs(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[sites.a]\n")
    assert "rigs: required key is missing" in msg


def test_bad_toml_syntax(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[sites.a\n")
    assert "not valid TOML" in msg


def test_unknown_model_tuning_table(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD + "[models.S7]\nboot_s = 1\n")
    assert "models.S7" in msg


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_fleet_config(tmp_path / "nope.toml")


def test_rebase_lays_groups_out_back_to_back() -> None:
    cfg = rebase(load_fleet_config(CONFIGS / "fleet-small.toml"), "127.201.7.1")
    fleet = Fleet(cfg)
    assert fleet.rigs[0].address == "127.201.7.1"
    assert fleet.rigs[-1].address == f"127.201.7.{len(fleet)}"
