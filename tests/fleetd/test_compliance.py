"""Above-cap time and energy from the meter's readings, against the allotment in force at
each reading, with fleetd's stale-feed floor kept apart; compared with an independent
integration of the same readings (numpy, written here from the definition)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from fleetd.allotment import ConstantSource, HttpJsonFeed, SiteAllotment
from fleetd.compliance import CapAccount, CapIntegrator, PowerSample, integrate
from fleetd.control.meter import Meter

T0 = 1_750_000_000.0


def independent(t: np.ndarray, w: np.ndarray, cap: np.ndarray, floor: np.ndarray,
                until: float, hold: float) -> dict[str, float]:  # fmt: skip
    """Each reading stands for [t_i, min(t_{i+1}, t_i + hold)); floor is NaN where none."""
    end = np.minimum(np.append(t[1:], until), t + hold)
    dt = np.maximum(end - t, 0.0)
    over = w - cap
    fover = np.where(np.isnan(floor), 0.0, w - np.nan_to_num(floor))
    return {
        "seconds": dt.sum(), "energy_j": (w * dt).sum(),
        "above_s": dt[over > 1e-6].sum(), "above_j": (over * dt)[over > 1e-6].sum(),
        "floor_above_s": dt[fover > 1e-6].sum(), "floor_above_j": (fover * dt)[fover > 1e-6].sum(),
        "max_gap_s": dt.max(),
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_the_integration_matches_an_independent_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    t = T0 + np.cumsum(rng.uniform(0.05, 2.0, n))
    t[rng.integers(1, n - 1):] += 40.0  # one long silence, beyond the hold
    cap = np.where(rng.random(n) < 0.3, 500e3, 650e3)
    w = cap + rng.normal(0, 20e3, n)
    floor = np.where(rng.random(n) < 0.2, 400e3, np.nan)
    hold = 30.0
    until = float(t[-1] + 3.0)
    samples = [
        PowerSample(float(a), float(b), float(c), None if math.isnan(d) else float(d), "meter")
        for a, b, c, d in zip(t, w, cap, floor, strict=True)
    ]
    # fleetd's integrator, split into compliance samples at random moments
    integ = CapIntegrator(hold)
    cuts = sorted(rng.uniform(t[0], until, 25))
    parts = []
    k = 0
    for s in samples:
        while k < len(cuts) and cuts[k] < s.t:
            parts.append(integ.take_interval(cuts[k]))
            k += 1
        integ.add(s)
    parts.append(integ.take_interval(until))
    ref = independent(t, w, cap, floor, until, hold)
    got = integ.total
    for key, value in ref.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-6), key
        if key != "max_gap_s":
            assert sum(getattr(p, key) for p in parts) == pytest.approx(value, rel=1e-9), key
    assert max(p.max_gap_s for p in parts) == pytest.approx(ref["max_gap_s"])
    assert got.readings == n and got.meter_s == pytest.approx(ref["seconds"])
    assert got.source == "meter" and got.sampling_s == pytest.approx(got.meter_s / n)
    assert integrate(samples, until, hold).above_j == pytest.approx(ref["above_j"])


def test_time_at_the_stale_floor_is_not_a_breach_of_the_allotment() -> None:
    """The feed goes silent while the site draws 600 kW under a 650 kW allotment; fleetd
    sheds to its 400 kW floor in 8 s. The allotment in force was never exceeded."""
    now = {"t": T0}
    feed = HttpJsonFeed("tso", "http://127.0.0.1:9/", stale_after_s=10.0, floor_mw=0.4,
                        clock=lambda: now["t"])  # fmt: skip
    feed.handle({"mw": 0.65, "as_of": T0})
    allot = SiteAllotment([feed, ConstantSource(0.9, name="licence")])
    meter = Meter("s:site", "http://127.0.0.1:9/", stale_after_s=5.0, clock=lambda: now["t"])
    caps = CapAccount(SimpleNamespace(meter=meter, allotment=allot))
    draw = {"w": 600e3}
    for _ in range(300):  # a reading every 0.1 s for 30 s
        if now["t"] >= T0 + 10.0:  # stale from here: shed 25 kW/s down to the floor
            draw["w"] = max(395e3, draw["w"] - 2.5e3)
        meter.accept(draw["w"], now["t"])
        caps.update(now["t"], estimate_w=0.0)
        now["t"] += 0.1
    caps.take_interval(now["t"])
    tot = caps.total
    assert tot.above_s == 0.0 and tot.above_j == 0.0  # never above the 650 kW in force
    # above the floor from the stale moment until the site reached it (8 s)
    assert tot.floor_above_s == pytest.approx(8.0, abs=0.15)
    assert tot.floor_above_j == pytest.approx(0.5 * 200e3 * 8.0, rel=0.03)
    assert tot.source == "meter" and tot.sampling_s == pytest.approx(0.1)
    assert "site meter readings, every 0.10 s on average" in tot.describe()


def test_without_a_fresh_meter_the_estimate_counts_and_says_so() -> None:
    now = {"t": T0}
    allot = SiteAllotment([ConstantSource(0.5, name="licence")])
    meter = Meter("s:site", "http://127.0.0.1:9/", stale_after_s=2.0, clock=lambda: now["t"])
    caps = CapAccount(SimpleNamespace(meter=meter, allotment=allot))
    meter.accept(520e3, T0)
    for _ in range(60):  # 6 s: the reading holds 2 s, then fleetd's estimate (480 kW)
        caps.update(now["t"], estimate_w=480e3)
        now["t"] += 0.1
    tot = caps.take_interval(now["t"])
    assert tot.meter_s == pytest.approx(2.0) and tot.estimate_s == pytest.approx(4.0, abs=0.11)
    assert tot.above_s == pytest.approx(2.0) and tot.above_j == pytest.approx(40e3)
    assert tot.source == "meter+estimate" and "while the meter was silent" in tot.describe()


@pytest.mark.parametrize(("value", "expected"), [
    (1e300, "expected finite power in [0, 1e+11] W, got 1e+300"),
    ("inf", "got 'inf'"), (-5, "got -5"), (True, "expected a number, got True"),
])  # fmt: skip
def test_a_meter_reading_out_of_range_is_refused(value: object, expected: str) -> None:
    """A meter that reads 1e300 W would otherwise put 1e300 J above the cap in the report."""
    from fleetd.control.meter import MeterError, parse_json_reading

    with pytest.raises(MeterError) as info:
        parse_json_reading({"kw": value}, "kw", "kW")
    assert expected in str(info.value)
    assert parse_json_reading({"kw": 412.5}, "kw", "kW") == 412_500.0
