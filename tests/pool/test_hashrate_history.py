"""The page's hashrate history (pool.hashrate_history) and the per-worker reject book
(pool.worker_rejects): right figures per bucket, bounded memory, fake clocks."""

from __future__ import annotations

import pytest

from pool.hashrate_history import HASHES_PER_DIFF1, SERIES, WEEK_S, HashrateHistory
from pool.worker_rejects import RejectBook

T0 = 1_900_000_020.0  # 20 s into a minute


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_each_bucket_holds_its_minute_and_the_series_agree() -> None:
    clock = Clock(T0)
    history = HashrateHistory(clock=clock)
    for minute in range(5):  # 2 shares of difficulty 3 every 10 s for 5 minutes
        for tick in range(6):
            t = T0 - 20 + minute * 60 + tick * 10
            history.add("alice", 3.0, t)
            history.add("bob", 1.0, t)
    clock.t = T0 - 20 + 5 * 60  # the fifth minute just ended
    rate = 6 * 3.0 * HASHES_PER_DIFF1 / 60  # alice: 18 difficulty a minute
    hour = history.series("1h", "alice")
    assert hour is not None and len(hour) == SERIES["1h"].buckets
    measured = [v for _, v in hour if v is not None]
    assert measured[:5] == pytest.approx([rate] * 5)
    assert all(v is None for _, v in hour[:-6])  # before the first share: not measured
    assert [t for t, _ in hour] == sorted(t for t, _ in hour)
    day = history.series("24h", "alice")
    assert day is not None
    assert [v for _, v in day if v is not None] == pytest.approx([rate])  # one 15-min bucket
    pool = history.series("1h")
    assert pool is not None
    assert [v for _, v in pool if v is not None][:5] == pytest.approx([rate * 4 / 3] * 5)
    assert history.series("1h", "carol") is None
    assert history.active_accounts(120) == 2


def test_an_account_joining_late_is_rated_from_its_first_share() -> None:
    clock = Clock(T0 + 40)  # 60 s into the minute at T0 - 20
    history = HashrateHistory(clock=clock)
    history.add("late", 6.0, T0)  # 20 s into its minute; then 40 s to now
    chart = history.series("1h", "late")
    assert chart is not None
    assert chart[-1][1] == pytest.approx(6.0 * HASHES_PER_DIFF1 / 40)


def test_old_buckets_fall_out_of_the_ring() -> None:
    clock = Clock(T0)
    history = HashrateHistory(clock=clock)
    history.add("alice", 1.0, T0)
    clock.t = T0 + 2 * 3600  # two hours later: the 1 h ring has moved past it
    hour = history.series("1h", "alice")
    assert hour is not None and all(v in (None, 0.0) for _, v in hour)
    day = history.series("24h", "alice")
    assert day is not None and any(v for _, v in day)


def test_memory_is_bounded_by_accounts_and_a_week_of_silence() -> None:
    clock = Clock(T0)
    history = HashrateHistory(max_accounts=100, clock=clock)
    for i in range(250):
        history.add(f"a{i}", 1.0, T0 + i * 60)  # each in a minute of its own
    clock.t = T0 + 250 * 60
    assert len(history) == 100
    assert history.evicted == 150
    assert "a0" not in history and "a249" in history
    assert history._rings["7d"].ring.shape[0] <= 100  # never grown past the cap
    history.add("fresh", 1.0, clock.t + WEEK_S + 120)
    clock.t += WEEK_S + 200
    history.series("1h")
    assert len(history) == 1  # a week silent: dropped


def test_rejects_are_counted_per_worker_and_bounded() -> None:
    clock = Clock(T0)
    book = RejectBook(max_workers=3, forget_s=60, clock=clock)
    book.reject("a.1", 21)
    book.reject("a.1", 21)
    book.reject("a.1", 23)
    assert book.counts("a.1") == {21: 2, 23: 1}
    assert book.counts("a.2") == {}
    for name in ("b.1", "b.2", "b.3"):
        book.reject(name, 22)
    assert len(book) == 3 and book.counts("a.1") == {}  # the oldest went
    clock.t += 61
    book.reject("c.1", 20)
    assert len(book) == 1  # silent for forget_s: forgotten
