"""The cluster's stats answers: each worker process's answer to the same request, merged
into one answer for the whole cluster. Pure functions over the JSON the workers' stats
APIs return (pool.stats_api, pool.stats_miner), tested without a socket.

What sums (hashrate, shares, connections, rejects) is summed; what the ledger answers
(balances, payouts, found blocks, the PPLNS window) is the same in every process and
taken from one; a worker seen by several processes (a rig that reconnected to another
process) becomes one row. Counts of accounts and workers online are summed over the
processes on the classic summary (`/pool`); the miners' page's overview counts them once,
from the union of the processes' sketches of the names online (pool.online_sketch); a row
per worker is exact; the median difficulty of the connections is the connection-weighted
mean of the processes' medians.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pool.online_sketch import union_count

Answer = dict[str, Any]


def _sum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _max(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _min(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _sum_dicts(dicts: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for key, value in (d or {}).items():
            out[key] = out.get(key, 0) + value
    return out


def _expected(answers: list[Answer], hashrate: float) -> float | None:
    """expected_block_s at the summed hashrate: network difficulty x 2^32 / hashrate, with
    the difficulty read back from any process's (expected x its hashrate)."""
    for a in answers:
        if a.get("expected_block_s") and a.get("hashrate_hs"):
            return float(a["expected_block_s"]) * float(a["hashrate_hs"]) / hashrate \
                if hashrate > 0 else None  # fmt: skip
    return None


# ---------------------------------------------------------------------- /api/v1/pool


def _difficulty_spread(spreads: list[Answer]) -> Answer:
    counted = [s for s in spreads if s.get("count")]
    total = sum(s["count"] for s in counted)
    if not total:
        return {"count": 0, "min": None, "median": None, "max": None}
    return {
        "count": total,
        "min": min(s["min"] for s in counted),
        "median": sum(s["median"] * s["count"] for s in counted) / total,
        "max": max(s["max"] for s in counted),
    }


def summary(answers: list[Answer]) -> Answer:
    last = [a["last_block"] for a in answers if a.get("last_block")]
    confirmed = [a["blocks_confirmed"] for a in answers]
    return {
        "time": max(a["time"] for a in answers),
        "hashrate_hs": sum(a["hashrate_hs"] for a in answers),
        "hashrate_window_s": answers[0]["hashrate_window_s"],
        "workers": sum(a["workers"] for a in answers),
        "authorized_workers": sum(a["authorized_workers"] for a in answers),
        "connections": sum(a["connections"] for a in answers),
        "shares": {
            "accepted": sum(a["shares"]["accepted"] for a in answers),
            "accepted_difficulty": sum(a["shares"]["accepted_difficulty"] for a in answers),
            "rejected": _sum_dicts(a["shares"]["rejected"] for a in answers),
        },
        "difficulty": {
            "network": _max(a["difficulty"]["network"] for a in answers),
            "connections": _difficulty_spread([a["difficulty"]["connections"]
                                               for a in answers]),
        },
        "height": _max(a["height"] for a in answers),
        "template_age_s": _min(a["template_age_s"] for a in answers),
        "blocks_found": sum(a["blocks_found"] for a in answers),
        "blocks_accepted": sum(a["blocks_accepted"] for a in answers),
        "blocks_confirmed": None if None in confirmed else sum(confirmed),
        "last_block": max(last, key=lambda b: b["time"]) if last else None,
    }


# ---------------------------------------------------------------------- worker rows


def _one_row(rows: list[Answer], merge: Callable[[list[Answer]], Answer]) -> Answer:
    return rows[0] if len(rows) == 1 else merge(rows)


def by_worker(rows: Iterable[Answer], merge: Callable[[list[Answer]], Answer]) -> list[Answer]:
    """One row per worker name, in first-seen order."""
    groups: dict[str, list[Answer]] = {}
    for row in rows:
        groups.setdefault(row["worker"], []).append(row)
    return [_one_row(group, merge) for group in groups.values()]


def _connected_difficulty(rows: list[Answer]) -> Any:
    for row in sorted(rows, key=lambda r: r.get("last_share_time") or 0, reverse=True):
        if row.get("connected") and row.get("difficulty") is not None:
            return row["difficulty"]
    return None


def worker_row(rows: list[Answer]) -> Answer:
    """/api/v1/workers rows of one worker from several processes."""
    latest = max(rows, key=lambda r: r.get("last_share_time") or 0)
    return {
        "worker": rows[0]["worker"],
        "account": rows[0]["account"],
        "hashrate_hs": sum(r["hashrate_hs"] for r in rows),
        "accepted_shares": sum(r["accepted_shares"] for r in rows),
        "accepted_difficulty": sum(r["accepted_difficulty"] for r in rows),
        "last_share_difficulty": latest.get("last_share_difficulty"),
        "first_share_time": _min(r.get("first_share_time") for r in rows),
        "last_share_time": _max(r.get("last_share_time") for r in rows),
        "connected": any(r["connected"] for r in rows),
        "difficulty": _connected_difficulty(rows),
    }


def _by_hashrate(rows: list[Answer]) -> list[Answer]:
    """Highest hashrate first; rows without a share yet last (as a process orders them)."""
    return sorted(rows, key=lambda r: (r.get("last_share_time") is None, -r["hashrate_hs"]))


def worker_page(pages: list[list[Answer]], offset: int, limit: int) -> Answer:
    """A page of /api/v1/workers from every process's first offset + limit + 1 rows."""
    rows = _by_hashrate(by_worker((r for page in pages for r in page), worker_row))
    page = rows[offset:offset + limit]
    more = len(rows) > offset + limit
    return {"workers": page, "offset": offset, "limit": limit,
            "next_offset": offset + limit if more else None}  # fmt: skip


def account(answers: list[Answer]) -> Answer:
    rows = _by_hashrate(by_worker((r for a in answers for r in a["workers"]), worker_row))
    return {
        "account": answers[0]["account"],
        "hashrate_hs": sum(r["hashrate_hs"] for r in rows),
        "accepted_shares": sum(r["accepted_shares"] for r in rows),
        "workers": rows,
    }


def block_list(answers: list[Answer], limit: int | None) -> Answer:
    """Block candidates (each found by one process), newest first."""
    blocks = sorted((b for a in answers for b in a["blocks"]), key=lambda b: b["time"],
                    reverse=True)  # fmt: skip
    return {"blocks": blocks[:limit] if limit is not None else blocks}


# ---------------------------------------------------------------------- the miners' page

STATUS_ORDER = {"online": 0, "new": 1, "offline": 2}


def miner_worker_row(rows: list[Answer]) -> Answer:
    """/api/v1/miner/workers rows of one worker from several processes."""
    latest = max(rows, key=lambda r: r.get("last_share_time") or 0)
    return {
        **latest,
        "status": min((r["status"] for r in rows), key=STATUS_ORDER.__getitem__),
        "connected": any(r["connected"] for r in rows),
        "hashrate_hs": sum(r["hashrate_hs"] for r in rows),
        "accepted_shares": sum(r["accepted_shares"] for r in rows),
        "last_share_time": _max(r.get("last_share_time") for r in rows),
        "difficulty": _connected_difficulty(rows),
        "rejected": _sum_dicts(r.get("rejected") for r in rows),
        "best_share_difficulty": _max(r.get("best_share_difficulty") for r in rows),
    }


def miner_workers(pages: list[list[Answer]], offset: int, limit: int) -> Answer:
    rows = by_worker((r for page in pages for r in page), miner_worker_row)
    rows.sort(key=lambda r: (STATUS_ORDER[r["status"]], -r["hashrate_hs"]))
    return {"workers": rows[offset:offset + limit], "offset": offset, "limit": limit,
            "next_offset": offset + limit if len(rows) > offset + limit else None}  # fmt: skip


def overview(answers: list[Answer], online: list[Answer] | None = None) -> Answer:
    """The pool page's overview; `online`: the processes' /pool/online answers, whose
    united sketches count each account and worker once (without them, or when one cannot
    be read, the processes' counts are summed)."""
    first = answers[0]
    accounts = workers = None
    if online:
        accounts = union_count(a.get("accounts") for a in online)
        workers = union_count(a.get("workers") for a in online)
    hashrate = sum(a["hashrate_hs"] for a in answers)
    ledger = max(answers, key=lambda a: a["blocks"]["found"] - a["blocks"]["rejected"])
    rejected = sum(a["blocks"]["rejected"] for a in answers)
    blocks = {**ledger["blocks"], "rejected": rejected}
    blocks["found"] = blocks["pending"] + blocks["confirmed"] + blocks["orphaned"] + rejected
    return {
        **first,
        "time": max(a["time"] for a in answers),
        "hashrate_hs": hashrate,
        "miners_online": sum(a["miners_online"] for a in answers) if accounts is None
        else accounts,
        "workers_online": sum(a["workers_online"] for a in answers) if workers is None
        else workers,
        "network_difficulty": _max(a["network_difficulty"] for a in answers),
        "height": _max(a["height"] for a in answers),
        "expected_block_s": _expected(answers, hashrate),
        "blocks": blocks,
        "last_block_time": _max(a["last_block_time"] for a in answers),
    }


def chart(answers: list[Answer]) -> Answer:
    """Hashrate charts: the processes' buckets (the same boundaries) summed; a bucket no
    process measured stays null."""
    sums: dict[float, float | None] = {}
    for a in answers:
        for point in a["points"]:
            t, value = point["time"], point["hashrate_hs"]
            if t not in sums:
                sums[t] = value
            elif value is not None:
                sums[t] = (sums[t] or 0.0) + value
    return {**answers[0], "points": [{"time": t, "hashrate_hs": v} for t, v in sorted(
        sums.items())]}  # fmt: skip


def miner(answers: list[Answer], rows: list[Answer]) -> Answer:
    """One account, from every process's answer and its merged worker rows (a worker
    that moved to another process is online there and counted once)."""
    hashrate = sum(a["hashrate_hs"] for a in answers)
    ledger = answers[0]  # balance and the PPLNS window: the ledger's, the same everywhere
    online = sum(1 for r in rows if r["status"] == "online")
    return {
        **ledger,
        "time": max(a["time"] for a in answers),
        "hashrate_hs": hashrate,
        "workers_online": online,
        "workers_offline": len(rows) - online,
        "last_share_time": _max(a["last_share_time"] for a in answers),
        "expected_block_s": _expected(answers, hashrate),
    }
