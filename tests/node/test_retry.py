"""Backoff timing and per-URL health: the pure core of failover."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool.node.retry import Health, HealthTable, RetryPolicy, backoff_delay


@given(attempt=st.integers(0, 40), rand=st.floats(0, 1, exclude_max=True))
def test_backoff_stays_within_jittered_exponential_bounds(attempt: int, rand: float) -> None:
    policy = RetryPolicy(base_delay=0.1, multiplier=2, max_delay=2.0, jitter=0.25)
    raw = min(2.0, 0.1 * 2**attempt)
    delay = backoff_delay(policy, attempt, rand)
    assert raw * 0.75 <= delay < raw * 1.25 + 1e-12


def test_backoff_grows_then_caps() -> None:
    policy = RetryPolicy(base_delay=0.1, multiplier=2, max_delay=1.0, jitter=0)
    delays = [backoff_delay(policy, a, 0.5) for a in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_jitter_spreads_clients() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.5)
    assert backoff_delay(policy, 0, 0.0) == pytest.approx(0.5)
    assert backoff_delay(policy, 0, 0.999) == pytest.approx(1.499)


@pytest.mark.parametrize(
    "kwargs",
    [{"rounds": 0}, {"jitter": 1.0}, {"multiplier": 0.5}, {"base_delay": -1}],
)
def test_bad_policy_is_refused_by_name(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_primary_first_and_failed_url_moves_back_until_cooldown_ends() -> None:
    table = HealthTable(("a", "b", "c"), RetryPolicy(cooldown=1.0))
    assert table.order(0.0) == ["a", "b", "c"]
    table.record_failure("a", Health.DOWN, "refused", now=10.0)
    assert table.order(10.5) == ["b", "c", "a"]
    assert table.order(11.0) == ["a", "b", "c"]  # cooldown over: primary again


def test_cooldown_doubles_per_consecutive_failure_and_ok_resets_it() -> None:
    table = HealthTable(("a", "b"), RetryPolicy(cooldown=1.0, max_cooldown=3.0))
    for _ in range(3):
        table.record_failure("a", Health.DOWN, "x", now=0.0)
    assert table.order(2.9) == ["b", "a"]  # 1, 2, then capped at 3 s
    assert table.order(3.0) == ["a", "b"]
    table.record_ok("a")
    table.record_failure("a", Health.DOWN, "x", now=0.0)
    assert table.order(1.0) == ["a", "b"]


def test_all_failing_urls_are_still_all_tried_soonest_first() -> None:
    table = HealthTable(("a", "b"), RetryPolicy(cooldown=1.0))
    table.record_failure("a", Health.DOWN, "x", now=5.0)
    table.record_failure("b", Health.DOWN, "x", now=4.0)
    assert table.order(4.5) == ["b", "a"]


def test_transitions_are_reported_once_per_change() -> None:
    table = HealthTable(("a",))
    assert table.record_ok("a") is None  # unknown -> up is not news
    change = table.record_failure("a", Health.DOWN, "connection refused", now=0)
    assert change is not None and (change.old, change.new) == (Health.UP, Health.DOWN)
    assert change.detail == "connection refused"
    assert table.record_failure("a", Health.DOWN, "connection refused", now=1) is None
    warming = table.record_failure("a", Health.WARMING_UP, "Loading block index...", now=2)
    assert warming is not None and warming.new is Health.WARMING_UP
    back = table.record_ok("a")
    assert back is not None and (back.old, back.new) == (Health.WARMING_UP, Health.UP)
    assert table.health("a") is Health.UP


def test_health_table_needs_urls() -> None:
    with pytest.raises(ValueError, match="at least one"):
        HealthTable(())
