"""The pool-verification test (coordinator.verify) on made-up readings: a rig credited
what it claims is never flagged; one credited nothing is flagged once its window and its
expected share count allow it, and not before; a rig 10 % slow is not flagged however
long it is watched; a low-rate rig waits for enough expected shares; the Poisson tail
agrees with scipy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from coordinator.verify import TWO_32, Rules, SiteVerify, poisson_cdf

RULES = Rules(alpha=1e-6, min_window_s=60.0, max_window_s=600.0, min_expected_shares=20.0,
              max_ratio=0.5, hashes_per_th=100.0)  # fmt: skip
D = 1e-6  # share difficulty: one share per D * 2^32 = 4,295 hashes


@pytest.mark.parametrize(("k", "lam"), [(0, 14.0), (3, 30.0), (50, 100.0), (900, 1000.0),
                                        (10, 1e4), (0, 0.5)])  # fmt: skip
def test_the_poisson_tail_agrees_with_scipy(k: int, lam: float) -> None:
    assert poisson_cdf(k, lam) == pytest.approx(stats.poisson.cdf(k, lam), rel=1e-9, abs=1e-300)


def run(fraction: float, ths: float, seconds: int, seed: int = 1, every: float = 5.0,
        known: bool = True) -> SiteVerify:  # fmt: skip
    """One rig claiming `ths` TH/s whose worker is credited `fraction` of it."""
    rng = np.random.default_rng(seed)
    site = SiteVerify(RULES)
    shares, diff_sum = 0, 0.0
    rate = fraction * ths * RULES.hashes_per_th / (D * TWO_32)  # shares a second
    t = 0.0
    while t <= seconds:
        got = int(rng.poisson(rate * every)) if t > 0 else 0
        shares, diff_sum = shares + got, diff_sum + got * D
        workers = {"acct.r1": {"accepted_shares": shares, "accepted_difficulty": diff_sum,
                               "difficulty": D}} if known else {}  # fmt: skip
        # an asleep rig of the same model, whose worker's difficulty stands in for r1's
        workers["acct.r2"] = {"accepted_shares": 0, "accepted_difficulty": 0.0, "difficulty": D}
        rigs = [{"name": "r1", "model": "S19", "watts": 3000.0, "ths": ths, "fresh": True},
                {"name": "r2", "model": "S19", "watts": 25.0, "ths": 0.0, "fresh": True}]
        site.observe(t, rigs, workers, lambda n: f"acct.{n}")
        t += every
    return site


def test_an_honest_rig_is_never_flagged() -> None:
    for seed in range(20):
        site = run(1.0, 100.0, 600, seed)
        assert site.flagged() == []
    v = site.rigs["r1"].verdict
    assert v["credited_ths"] == pytest.approx(100.0, rel=0.1)
    f = site.figures(3300.0)
    assert f["by_model"]["S19"]["jth_claimed"] == pytest.approx(30.0)
    assert f["by_model"]["S19"]["jth_pool"] == pytest.approx(30.0, rel=0.1)
    assert f["jth_pool"] == pytest.approx(33.0, rel=0.1)


def test_a_rig_mining_elsewhere_is_flagged_after_its_window_not_before() -> None:
    site = run(0.0, 100.0, 55, known=False)  # under min_window_s
    assert site.flagged() == []
    site = run(0.0, 100.0, 65, known=False)
    [v] = site.flagged()
    assert v["rig"] == "r1" and v["shares"] == 0 and not v["known_at_pool"]
    assert v["expected_shares"] > 20 and v["p_value"] < 1e-6


def test_a_slow_rig_is_not_flagged_however_long_and_a_broken_one_is() -> None:
    assert run(0.9, 100.0, 3000).flagged() == []
    assert [v["rig"] for v in run(0.2, 100.0, 300).flagged()] == ["r1"]


def test_a_low_rate_rig_waits_for_enough_expected_shares() -> None:
    # 0.1 TH/s claimed: 10 H/s at the pool, a share every ~430 s: lambda < 20 in 600 s
    site = run(0.0, 0.1, 3000)
    assert site.flagged() == []
    assert site.rigs["r1"].verdict["expected_shares"] < 20


def test_a_pool_counter_restart_is_not_negative_work() -> None:
    site = SiteVerify(RULES)
    rig = [{"name": "r1", "model": "S19", "watts": 3000.0, "ths": 100.0}]
    for t, n in ((0, 100), (5, 110), (10, 3), (15, 8)):
        site.observe(float(t), rig, {"a.r1": {"accepted_shares": n,
                                              "accepted_difficulty": n * D,
                                              "difficulty": D}}, lambda n: "a." + n)  # fmt: skip
    assert site.rigs["r1"].span()[1] == 10 + 3 + 5  # type: ignore[index]


def test_a_flag_stands_while_the_rig_sleeps_and_a_conclusive_window_clears_it() -> None:
    site = run(0.0, 100.0, 65, known=False)
    assert [v["rig"] for v in site.flagged()] == ["r1"]
    asleep = [{"name": "r1", "model": "S19", "watts": 25.0, "ths": 0.0},
              {"name": "r2", "model": "S19", "watts": 25.0, "ths": 0.0}]  # fmt: skip
    workers = {"acct.r2": {"accepted_shares": 0, "accepted_difficulty": 0.0, "difficulty": D}}
    for t in range(70, 200, 5):
        site.observe(float(t), asleep, workers, lambda n: f"acct.{n}")
    [v] = site.flagged()
    assert v["earlier_window"] and v["watts"] == 25.0  # shed, still flagged
    # it runs again, credited what it claims: cleared at its first conclusive window
    shares = 0
    rate = 100.0 * RULES.hashes_per_th / (D * TWO_32)
    for t in range(200, 300, 5):
        shares += int(rate * 5)
        workers["acct.r1"] = {"accepted_shares": shares, "accepted_difficulty": shares * D,
                              "difficulty": D}  # fmt: skip
        rig = [{"name": "r1", "model": "S19", "watts": 3000.0, "ths": 100.0}]
        site.observe(float(t), rig + asleep[1:], workers, lambda n: f"acct.{n}")
        if t < 255:
            assert site.flagged(), t  # not conclusive yet
    assert site.flagged() == []
