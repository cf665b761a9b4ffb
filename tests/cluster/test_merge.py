"""The cluster's stats answers merged from the processes' (pool.cluster.merge): sums,
one row per worker across processes, paging over the merged rows, charts bucket by
bucket, the ledger's figures once."""

from __future__ import annotations

from typing import Any

from pool.cluster import merge
from pool.online_sketch import OnlineSketch


def row(worker: str, hashrate: float, shares: int, last: float | None, *,
        connected: bool = True, difficulty: float | None = 1.0) -> dict[str, Any]:  # fmt: skip
    return {"worker": worker, "account": worker.split(".")[0], "hashrate_hs": hashrate,
            "accepted_shares": shares, "accepted_difficulty": float(shares),
            "last_share_difficulty": 2.0 if last else None, "first_share_time": last,
            "last_share_time": last, "connected": connected, "difficulty": difficulty}


def summary(connections: int, accepted: int, median: float, last: float | None) -> dict:
    return {
        "time": 100.0, "hashrate_hs": 10.0, "hashrate_window_s": 600.0, "workers": 2,
        "authorized_workers": 3, "connections": connections,
        "shares": {"accepted": accepted, "accepted_difficulty": 1.5 * accepted,
                   "rejected": {"stale": 1, "duplicate": 0}},
        "difficulty": {"network": 4.0, "connections": {"count": connections, "min": median,
                                                        "median": median, "max": median}},
        "height": 10, "template_age_s": 3.0, "blocks_found": 1, "blocks_accepted": 1,
        "blocks_confirmed": 1,
        "last_block": None if last is None else {"height": 9, "hash": "aa", "worker": "w",
                                                  "job_id": "1", "accepted": True,
                                                  "reject_reason": None, "time": last},
    }  # fmt: skip


def test_summary_sums_what_each_process_counts() -> None:
    merged = merge.summary([summary(3, 10, 1.0, 50.0), summary(1, 5, 5.0, 70.0)])
    assert merged["connections"] == 4 and merged["shares"]["accepted"] == 15
    assert merged["shares"]["rejected"] == {"stale": 2, "duplicate": 0}
    assert merged["difficulty"]["connections"] == {"count": 4, "min": 1.0, "median": 2.0,
                                                   "max": 5.0}  # fmt: skip
    assert merged["last_block"]["time"] == 70.0 and merged["blocks_found"] == 2


def test_a_worker_on_two_processes_is_one_row_and_pages_cover_the_merge() -> None:
    first = [row("a.1", 30.0, 3, 10.0), row("a.2", 5.0, 1, 9.0, connected=False)]
    second = [row("a.2", 20.0, 2, 12.0, difficulty=4.0), row("b.1", 10.0, 1, 11.0),
              row("b.new", 0.0, 0, None)]  # fmt: skip
    page = merge.worker_page([first, second], offset=0, limit=2)
    assert [r["worker"] for r in page["workers"]] == ["a.1", "a.2"]
    a2 = page["workers"][1]
    assert a2["hashrate_hs"] == 25.0 and a2["accepted_shares"] == 3 and a2["connected"]
    assert a2["difficulty"] == 4.0 and a2["last_share_time"] == 12.0
    assert page["next_offset"] == 2
    rest = merge.worker_page([first, second], offset=2, limit=10)
    assert [r["worker"] for r in rest["workers"]] == ["b.1", "b.new"]
    assert rest["next_offset"] is None


def test_charts_sum_bucket_by_bucket() -> None:
    one = {"range": "1h", "bucket_s": 60.0, "points": [{"time": 0.0, "hashrate_hs": 1.0},
                                                      {"time": 60.0, "hashrate_hs": None}]}
    two = {"range": "1h", "bucket_s": 60.0, "points": [{"time": 0.0, "hashrate_hs": 2.0},
                                                      {"time": 60.0, "hashrate_hs": None},
                                                      {"time": 120.0, "hashrate_hs": 4.0}]}
    points = merge.chart([one, two])["points"]
    assert points == [{"time": 0.0, "hashrate_hs": 3.0}, {"time": 60.0, "hashrate_hs": None},
                      {"time": 120.0, "hashrate_hs": 4.0}]  # fmt: skip


def test_overview_takes_the_ledger_once_and_sums_the_refused() -> None:
    def answer(hashrate: float, rejected: int) -> dict[str, Any]:
        return {"time": 1.0, "mode": "pool", "hashrate_hs": hashrate, "miners_online": 1,
                "workers_online": 2, "network_difficulty": 8.0, "height": 5,
                "expected_block_s": 8.0 * 2**32 / hashrate, "last_block_time": 3.0,
                "blocks": {"found": 4 + rejected, "pending": 1, "confirmed": 2, "orphaned": 1,
                           "rejected": rejected}}  # fmt: skip

    merged = merge.overview([answer(100.0, 1), answer(300.0, 2)])
    assert merged["blocks"] == {"found": 7, "pending": 1, "confirmed": 2, "orphaned": 1,
                                "rejected": 3}  # fmt: skip
    assert merged["hashrate_hs"] == 400.0
    assert merged["expected_block_s"] == 8.0 * 2**32 / 400.0


def test_a_miner_counts_its_workers_once() -> None:
    def worker(name: str, status: str, hashrate: float) -> dict[str, Any]:
        return {"worker": name, "rig": name.split(".")[1], "status": status,
                "connected": status != "offline", "hashrate_hs": hashrate,
                "accepted_shares": 1, "last_share_time": 5.0, "difficulty": 1.0,
                "rejected": {"stale": 1}, "best_share_difficulty": hashrate}  # fmt: skip

    # a.1 went quiet on one process and mines on the other: one online worker
    rows = merge.by_worker([worker("a.1", "offline", 1.0), worker("a.1", "online", 2.0),
                            worker("a.2", "online", 3.0)], merge.miner_worker_row)
    assert [(r["worker"], r["status"], r["rejected"]) for r in rows] == [
        ("a.1", "online", {"stale": 2}), ("a.2", "online", {"stale": 1})]
    answer = {"account": "a", "time": 1.0, "mode": "pool", "hashrate_hs": 3.0,
              "workers_online": 1, "workers_offline": 1, "last_share_time": 5.0,
              "offline_after_s": 300.0, "expected_block_s": None, "pplns_window": None,
              "balance": {"immature_sat": 1, "payable_sat": 0, "pending_sat": 0,
                          "paid_sat": 0}}  # fmt: skip
    merged = merge.miner([answer, {**answer, "hashrate_hs": 3.0}], rows)
    assert (merged["workers_online"], merged["workers_offline"]) == (2, 0)
    assert merged["hashrate_hs"] == 6.0 and merged["balance"]["immature_sat"] == 1


def test_overview_counts_an_account_in_two_processes_once() -> None:
    def answer(online: int) -> dict[str, Any]:
        return {"time": 1.0, "mode": "pool", "hashrate_hs": 1.0, "miners_online": online,
                "workers_online": online, "network_difficulty": 8.0, "height": 5,
                "expected_block_s": 1.0, "last_block_time": 3.0,
                "blocks": {"found": 0, "pending": 0, "confirmed": 0, "orphaned": 0,
                           "rejected": 0}}  # fmt: skip

    def online(accounts: list[str], workers: list[str]) -> dict[str, Any]:
        return {"time": 1.0, "accounts": OnlineSketch.of(accounts).encode(),
                "workers": OnlineSketch.of(workers).encode()}

    answers = [answer(2), answer(2)]
    merged = merge.overview(answers, [online(["alice", "bob"], ["alice.1", "bob.1"]),
                                      online(["alice", "bob"], ["alice.2", "bob.1"])])
    assert (merged["miners_online"], merged["workers_online"]) == (2, 3)
    unreadable = merge.overview(answers, [online(["alice"], ["alice.1"]), {"time": 1.0}])
    assert (unreadable["miners_online"], unreadable["workers_online"]) == (4, 4)
