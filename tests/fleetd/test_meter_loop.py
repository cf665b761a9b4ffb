"""The meter loop of a site (fleetd.control.site): what the meter factor learns, and what it may
never do (issue 19, findings 1 and 7). Pure: the site's meter is fed readings by hand,
nothing is polled and no rig is asked anything."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fleetd.build import build_site
from fleetd.config import parse_config
from fleetd.control.site import Site

PUE, AUX_W, FIRM_W = 1.1, 5_000.0, 30_000.0
RIGS_W = 400_000.0  # the rigs as the loop counts them


def metered_site(**keys: Any) -> Site:
    cfg = parse_config({"sites": {"s": {
        "allotment": [{"kind": "constant", "mw": 0.5}], "overhead": {"pue": PUE, "aux_kw": 5},
        "firm_loads": [{"name": "hall", "kw": FIRM_W / 1e3}],
        "meter": {"kind": "http_json", "url": "http://127.0.0.1:9/meter"},
        "rigs": [{"range": "10.0.0.1-10.0.0.120", "model": "S21"}], **keys,
    }}})  # fmt: skip
    return build_site("s", cfg.sites["s"], cfg.rigs("s"), clock=lambda: 0.0)


def meter_for(factor: float, rigs_w: float = RIGS_W) -> float:
    return FIRM_W + AUX_W + PUE * factor * rigs_w


def test_noise_does_not_ratchet_the_factor_up() -> None:
    """Finding 7: a meter that reads 2 % above the rigs' figures, with 1 % of noise: the
    factor settles on 2 %, not on the noise's peaks (believing every reading above the
    estimate at once, and the ones below only slowly, biased it up by about 2 sigma and
    took that much off the miners' budget)."""
    site = metered_site()
    rng = np.random.default_rng(7)
    seen = []
    for k in range(400):
        t = float(k)
        site.meter.accept(meter_for(1.02 * (1 + 0.01 * rng.standard_normal())), at=t)  # type: ignore[union-attr]
        site.learn_meter(t, RIGS_W, settled=True)
        seen.append(site.meter_factor())
    mean = float(np.mean(seen[100:]))
    assert mean == pytest.approx(1.02, abs=0.003), f"the factor settled on {mean:.4f}"


def test_the_correction_never_lifts_the_plan_above_the_cap() -> None:
    """Finding 1: a meter reading 12 % under the rigs' figures (rigs booting at 120 W while
    counted at their 3 kW targets, or rigs over-reporting) cannot raise the miners' budget
    above what the rigs' own figures allow under the cap."""
    site = metered_site()
    before = site.budget(0.0).miner_w
    for k in range(50):
        site.meter.accept(meter_for(0.88), at=float(k))  # type: ignore[union-attr]
        site.learn_meter(float(k), RIGS_W, settled=True)
    assert site.meter_factor() == 1.0
    assert site.budget(50.0).miner_w == pytest.approx(before)
    # a meter reading above the figures still tightens it
    site.meter.accept(meter_for(1.05), at=50.0)  # type: ignore[union-attr]
    assert site.learn_up(50.0, RIGS_W)
    assert site.meter_factor() == pytest.approx(1.05)
    assert site.budget(50.0).miner_w < before


def test_learning_is_configured_per_site_and_waits_for_a_settled_site() -> None:
    """The loop's rate and ceiling are the site's `meter_learn_rate` and
    `meter_factor_max`; an unsettled site (commands still being carried out) learns
    nothing; the configured `meter_factor` is the floor."""
    site = metered_site(meter_learn_rate=1.0, meter_factor_max=1.1, meter_factor=1.02)
    site.meter.accept(meter_for(1.3), at=0.0)  # type: ignore[union-attr]
    site.learn_meter(0.0, RIGS_W, settled=False)
    assert site.meter_factor() == 1.02
    site.learn_meter(0.0, RIGS_W, settled=True)
    assert site.meter_factor() == pytest.approx(1.1)  # at once (rate 1), to the ceiling
    site.meter.accept(meter_for(0.9), at=1.0)  # type: ignore[union-attr]
    site.learn_meter(1.0, RIGS_W, settled=True)
    assert site.meter_factor() == 1.02
