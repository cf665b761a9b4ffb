"""The demo's pure parts: its configs derived from the shipped ones, the grid feed's
cuts, and the compliance watch's verdicts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from fleetd.config import load as load_fleetd
from pool.config import load as load_pool
from rigsim.config import load_fleet_config
from rigsim.fleet import Fleet
from surplus.demo.compliance import ComplianceWatch
from surplus.demo.grid import GridFeed
from surplus.demo.layout import (
    CHECKOUT_CONFIGS,
    Ports,
    block_difficulty,
    read_toml,
    retimed_schedule,
    scale_fleet,
    write_layout,
)

FLEET = read_toml(CHECKOUT_CONFIGS / "fleet-demo.toml")


def test_scaling_the_fleet_keeps_every_group_and_scales_site_loads() -> None:
    same, factor = scale_fleet(FLEET, None)
    assert factor == 1.0 and same == FLEET
    small, factor = scale_fleet(FLEET, 33)
    assert [g["model"] for g in small["rigs"]] == [g["model"] for g in FLEET["rigs"]]
    assert all(g["count"] >= 1 for g in small["rigs"])
    total = sum(g["count"] for g in small["rigs"])
    assert factor == pytest.approx(total / 330) and 30 <= total <= 36
    ai = next(f for f in small["sites"]["south"]["firm_loads"] if f["name"] == "ai-hall")
    assert ai["kw"] == pytest.approx(60 * factor)
    first = small["rigs"][0]
    lo, _, hi = first["addresses"].partition("-")
    assert lo == FLEET["rigs"][0]["addresses"].split("-")[0]
    assert int(hi.rsplit(".", 1)[1]) - int(lo.rsplit(".", 1)[1]) + 1 == first["count"]
    with pytest.raises(ValueError, match="at least"):
        scale_fleet(FLEET, 3)


def test_the_schedule_is_retimed_to_the_run_and_scaled() -> None:
    text = (CHECKOUT_CONFIGS / "allotment-demo.csv").read_text()
    start = 1_800_000_000.0
    out = retimed_schedule(text, start, 0.5)
    rows = list(csv.DictReader(line for line in io.StringIO(out) if not line.startswith("#")))
    shipped = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
    assert len(rows) == len(shipped)
    assert dt.datetime.fromisoformat(rows[0]["start"]).timestamp() == start
    step = dt.datetime.fromisoformat(rows[1]["start"]) - dt.datetime.fromisoformat(rows[0]["start"])
    assert step == dt.timedelta(minutes=15)
    assert float(rows[5]["mw"]) == pytest.approx(float(shipped[5]["mw"]) * 0.5, abs=1e-6)


def test_block_difficulty_gives_the_block_time_asked() -> None:
    d = block_difficulty(1_000_000.0, 5.0)  # 5e6 hashes a block at 1 MH/s
    assert d == Decimal("0.00116")
    assert float(d) * 2**32 / 1e6 == pytest.approx(5.0, rel=0.01)


def test_written_layout_is_valid_for_each_program_and_on_its_ports(tmp_path: Path) -> None:
    ports = Ports.free()
    layout = write_layout(tmp_path, ports=ports, start=1_800_000_000.0, rigs=40,
                          compress=1440.0, node_url=None, block_time_s=5.0)  # fmt: skip
    fleet = load_fleet_config(layout.fleet_file)
    fd = load_fleetd(layout.fleetd_file)
    pool = load_pool(layout.pool_file)
    assert fleet.fleet.pool_url == f"stratum+tcp://127.0.0.1:{ports.stratum}"
    assert {r.host for r in fd.rigs()} == {r.address for r in Fleet(fleet).rigs}
    south = fd.sites["south"]
    grid = next(a for a in south.allotment if a.kind == "http_json")
    assert grid.url == f"http://127.0.0.1:{ports.grid}/allotment/south"
    assert south.meter is not None and f":{ports.rigsim_metrics}/" in south.meter.url
    sched = next(a for a in fd.sites["north"].allotment if a.kind == "schedule")
    assert sched.compress == 1440.0 and sched.align == "file"
    assert fd.metrics.listen == f"127.0.0.1:{ports.fleetd_metrics}"
    assert fd.audit.path == tmp_path / "audit.jsonl"
    licence = next(a for a in south.allotment if a.kind == "constant")
    assert licence.mw == pytest.approx(0.52 * layout.scale)
    assert pool.mode == "pool" and pool.stratum.port == ports.stratum
    assert layout.block_difficulty is not None and layout.block_difficulty > 0
    assert pool.node.difficulty == layout.block_difficulty  # type: ignore[union-attr]


def test_grid_feed_cuts_without_notice_on_its_timetable() -> None:
    feed = GridFeed("south", 0.5, start=1000.0, first_cut_s=30, cut_s=20, every_s=100,
                    depth=0.2)  # fmt: skip
    assert feed.mw_at(1029.9) == 0.5 and feed.cut_index(1029.9) is None
    assert feed.mw_at(1030.0) == pytest.approx(0.4) and feed.cut_started(1045) == 1030.0
    assert feed.mw_at(1050.0) == 0.5
    assert feed.cut_started(1135.0) == 1130.0
    msg = feed.message(1031.0)
    assert msg["mw"] == pytest.approx(0.4) and "next" not in msg  # not announced


def test_compliance_allows_only_the_response_to_an_unannounced_drop() -> None:
    w = ComplianceWatch(["s"], allowance_s=10.0)
    w.add("s", 0.0, 90e3, 100e3)
    w.add("s", 1.0, 95e3, 100e3)
    # the grid cuts to 80 kW at t=2: above while fleetd sheds, under again at t=6
    for t, site_w in ((2.0, 95e3), (3.0, 92e3), (4.0, 85e3), (5.0, 81e3), (6.0, 79e3)):
        w.add("s", t, site_w, 80e3, drop_at=2.0)
    r = w.sites["s"]
    assert r.compliant and r.drops == 1 and r.responses == [4.0]
    assert r.response_s == pytest.approx(4.0)
    # above the cap with no drop to answer: a breach, with its size
    w.add("s", 7.0, 83e3, 80e3, drop_at=None)
    assert not w.compliant and r.breach_s == pytest.approx(1.0)
    assert r.max_over_kw == pytest.approx(3.0)
    # a drop answered too slowly: the seconds past the allowance are breaches
    w2 = ComplianceWatch(["s"], allowance_s=2.0)
    for t in range(6):
        w2.add("s", float(t), 90e3, 80e3, drop_at=0.0)
    assert w2.sites["s"].response_s == pytest.approx(2.0)
    assert w2.sites["s"].breach_s == pytest.approx(3.0)
    assert w2.sites["s"].energy_kwh == pytest.approx(90e3 * 5 / 3.6e6)
