"""A site's utility meter: PUE x the rigs' true draw + auxiliary load + firm loads, served
as Prometheus metrics and as the JSON meters fleetd's http_json meters read."""

from __future__ import annotations

import math

import aiohttp
import pytest

from rigsim.clock import FakeClock
from rigsim.config import ConfigError, parse_fleet_config
from rigsim.fleet import Fleet
from rigsim.loads import firm_load_w
from rigsim.metrics import RigsimMetrics


def site_fleet(clock: FakeClock) -> Fleet:
    cfg = parse_fleet_config({
        "sites": {
            "hall": {"pue": 1.2, "aux_kw": 4, "firm_loads": [
                {"name": "ai-hall", "kw": 60, "swing_kw": 20, "period_s": 100},
                {"name": "offices", "kw": 12},
            ]},
            "plain": {"pue": 1.0},
        },
        "rigs": [
            {"model": "S21", "count": 2, "site": "hall", "addresses": "127.9.4.1-127.9.4.2"},
            {"model": "S19", "count": 1, "site": "plain", "addresses": "127.9.4.3"},
        ],
    })  # fmt: skip
    return Fleet(cfg, clock=clock)


def test_meter_adds_overhead_aux_and_firm_loads_that_swing_over_time() -> None:
    clock = FakeClock()
    fleet = site_fleet(clock)
    true = fleet.site_true_w()
    meter = fleet.site_meter_w()
    assert meter["hall"] == pytest.approx(true["hall"] * 1.2 + 4e3 + 60e3 + 12e3)
    assert meter["plain"] == pytest.approx(true["plain"])
    clock.advance(25.0)  # a quarter period: the AI hall at its peak
    fleet.advance()
    assert fleet.site_firm_w()["hall"] == pytest.approx({"ai-hall": 80e3, "offices": 12e3})
    clock.advance(50.0)  # three quarters: its trough
    fleet.advance()
    assert fleet.site_firm_w()["hall"]["ai-hall"] == pytest.approx(40e3)
    assert firm_load_w(fleet.config.sites["hall"].firm_loads[0], 12.5) == pytest.approx(
        (60 + 20 * math.sin(math.pi / 4)) * 1e3
    )


def test_a_firm_load_that_would_swing_below_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="swing_kw"):
        parse_fleet_config({
            "sites": {"s": {"firm_loads": [{"name": "x", "kw": 5, "swing_kw": 10}]}},
            "rigs": [{"model": "S19", "count": 1, "site": "s", "addresses": "127.9.4.9"}],
        })  # fmt: skip


async def test_json_meters_and_metrics_agree_with_the_fleet() -> None:
    fleet = site_fleet(FakeClock())
    metrics = RigsimMetrics(fleet)
    host, port = await metrics.serve("127.0.0.1", 0)
    base = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/sites/hall/meter") as r:
                meter = await r.json()
            async with http.get(f"{base}/sites/hall/firm/ai-hall") as r:
                ai = await r.json()
            async with http.get(f"{base}/sites") as r:
                sites = (await r.json())["sites"]
            async with http.get(f"{base}/sites/nowhere/meter") as r:
                assert r.status == 404 and "hall" in await r.text()
            async with http.get(f"{base}/sites/hall/firm/nothing") as r:
                assert r.status == 404
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
    finally:
        await metrics.close()
    assert meter["kw"] == pytest.approx(fleet.site_meter_w()["hall"] / 1e3)
    assert ai["kw"] == pytest.approx(60.0)
    assert sites["hall"]["rigs"]["hashing"] == 2 and sites["plain"]["rigs"]["hashing"] == 1
    assert sites["hall"]["firm_kw"] == pytest.approx({"ai-hall": 60.0, "offices": 12.0})
    assert 'surplus_rigsim_firm_load_watts{load="ai-hall",site="hall"} 60000.0' in text
