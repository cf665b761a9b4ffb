"""What the miners' page shows, built from the live pool (pure reads): the pool's
overview, the charts, one account's workers and figures, blocks without a ledger.

`MinerView` reads the Stratum server (connections, difficulties, its account index),
the worker book, the reject book, the hashrate history and the config; the ledger's rows
are handed in by the shell (pool.stats_miner), which reads them on a thread of its own.
Every method costs O(one account's workers) at most: nothing here walks the pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pool.bitcoin.target import DIFF1_TARGET
from pool.hashrate_history import HASHES_PER_DIFF1, SERIES, HashrateHistory
from pool.ledger.reader import PayoutRow, PplnsWindow
from pool.ledger.records import BlockRow, Scheme
from pool.metrics.collector import REJECT_REASONS
from pool.online_sketch import OnlineSketch
from pool.stratum.identity import account_of
from pool.worker_rejects import RejectBook
from pool.workers import WorkerBook, WorkerView

if TYPE_CHECKING:
    from pool.app_stats import BlockOutcome
    from pool.config import PoolConfig, StatsApiSection
    from pool.ledger.ledger import Ledger
    from pool.stratum.server import StratumServer

PAYOUT_STATUS = {"created": "sending", "sent": "sent", "cancelled": "cancelled"}


class PoolFacts(Protocol):
    """What the running pool offers the page beyond the server (pool.app.PoolApp)."""

    @property
    def ledger(self) -> Ledger | None: ...

    @property
    def blocks(self) -> Sequence[BlockOutcome]: ...


class NotFound(LookupError):
    """The pool knows no such account (the message says so plainly)."""


def unknown_account(account: str) -> NotFound:
    return NotFound(f"no miner {account[:128]!r} at this pool: nothing was mined to this "
                    "address or name recently; check it, or wait for your first share")  # fmt: skip


def _rejected(counts: dict[int, int]) -> dict[str, int]:
    return {reason: counts.get(code, 0) for code, reason in REJECT_REASONS.items()}


def block_answer(b: BlockRow) -> dict[str, Any]:
    return {"height": b.height, "hash": b.hash, "time": b.found_at, "worker": b.worker,
            "account": b.account, "status": b.status.value, "reward_sat": b.reward}  # fmt: skip


def _outcome_row(b: BlockOutcome) -> dict[str, Any]:
    """A block without a ledger: rejected by the node, pending until followed up, then
    on the chain at its height (confirmed) or not (orphaned)."""
    if b.reason is not None:
        status = "rejected"
    elif b.confirmed:
        status = "confirmed"
    elif b.followed:
        status = "orphaned"
    else:
        status = "pending"
    return {"height": b.height, "hash": b.hash, "time": b.submitted_at, "worker": b.worker,
            "account": account_of(b.worker), "status": status, "reward_sat": b.reward}  # fmt: skip


def payout_answer(p: PayoutRow) -> dict[str, Any]:
    return {"batch_id": p.batch_id, "amount_sat": p.amount, "address": p.address,
            "status": PAYOUT_STATUS.get(p.status, p.status), "txid": p.txid,
            "time": p.created_at}  # fmt: skip


def page_of(rows: list[dict[str, Any]], key: str, limit: int, offset: int,
          more: bool) -> dict[str, Any]:  # fmt: skip
    return {key: rows, "offset": offset, "limit": limit,
            "next_offset": offset + limit if more else None}  # fmt: skip


@dataclass(eq=False)
class MinerView:
    """Answers built from the live server, the books and the history."""

    server: StratumServer
    workers: WorkerBook
    rejects: RejectBook
    history: HashrateHistory
    config: PoolConfig
    section: StatsApiSection
    facts: PoolFacts | None = None
    _: KW_ONLY
    clock: Callable[[], float] = time.time

    def network_difficulty(self) -> float | None:
        job = self.server.jobs.current
        return None if job is None else DIFF1_TARGET / job.network_target

    def _expected(self, hashrate: float) -> float | None:
        difficulty = self.network_difficulty()
        if difficulty is None or hashrate <= 0:
            return None
        return difficulty * HASHES_PER_DIFF1 / hashrate

    def connect(self) -> dict[str, Any]:
        config, section = self.config, self.section
        stratum = self.server.config  # what the server runs with
        if config.mode == "solo":
            username = "<your address>.<rig name>"
        elif config.accounts:
            username = "<your address, or the account name the pool gave you>.<rig name>"
        else:
            username = "<your address>.<rig name>"
        vardiff = stratum.vardiff
        return {
            "stratum_url": section.stratum_url,
            "stratum_port": self.server.address[1] if self.server.address else stratum.port,
            "tls_url": section.tls_url,
            "tls_port": None if self.server.tls_address is None else self.server.tls_address[1],
            "username": username,
            "password": f"d={vardiff.initial:g}",
            "suggested_difficulty": vardiff.initial,
            "target_share_interval_s": vardiff.target_interval,
        }

    def block_counts(self, ledger_counts: dict[str, int] | None) -> dict[str, int]:
        """Blocks by status: the ledger's (its blocks were accepted), plus the candidates
        the node refused; without a ledger, the pool's own list."""
        stats = self.server.stats
        refused = max(0, stats.blocks_found - stats.blocks_accepted)
        if ledger_counts is None:
            counts = {"pending": 0, "confirmed": 0, "orphaned": 0, "rejected": 0}
            for b in self.facts.blocks if self.facts is not None else ():
                counts[_outcome_row(b)["status"]] += 1
        else:
            counts = {s: ledger_counts.get(s, 0) for s in ("pending", "confirmed", "orphaned")}
            counts["rejected"] = refused
        return {"found": sum(counts.values()), **counts}

    def overview(
        self, ledger_counts: dict[str, int] | None, last_block_time: float | None,
    ) -> dict[str, Any]:
        now = self.clock()
        config = self.config
        ledger = config.ledger
        hashrate = self.workers.total_hashrate(now)
        job = self.server.jobs.current
        pplns = ledger is not None and ledger.scheme is Scheme.PPLNS
        return {
            "time": now,
            "mode": config.mode,
            "network": config.network,
            "scheme": None if ledger is None else ledger.scheme.value,
            "fee_percent": None if ledger is None or config.mode == "solo"
            else float(ledger.fee_percent),
            "pplns_window_blocks": float(ledger.pplns_n) if ledger is not None and pplns else None,
            "min_payout_sat": None if ledger is None or config.mode == "solo"
            else ledger.min_payout_sat,
            "maturity": None if ledger is None else ledger.maturity,
            "hashrate_hs": hashrate,
            "hashrate_window_s": self.workers.window_s,
            "miners_online": self.history.active_accounts(self.workers.window_s, now),
            "workers_online": self.workers.active(now),
            "network_difficulty": self.network_difficulty(),
            "height": None if job is None else job.height,
            "expected_block_s": self._expected(hashrate),
            "blocks": self.block_counts(ledger_counts),
            "last_block_time": last_block_time,
            "connect": self.connect(),
        }  # fmt: skip

    def online(self) -> dict[str, Any]:
        """The accounts and workers `overview` counts online, as mergeable sketches: a
        cluster's front unites its processes' sketches, so that an account mining through
        two processes counts once (pool.online_sketch)."""
        now = self.clock()
        window = self.workers.window_s
        return {
            "time": now,
            "accounts": OnlineSketch.of(self.history.active_account_names(window, now)).encode(),
            "workers": OnlineSketch.of(self.workers.active_names(now)).encode(),
        }

    def last_block_time(self) -> float | None:
        """Without a ledger: the pool's own list."""
        blocks = [b for b in self.facts.blocks if b.reason is None] if self.facts else []
        return blocks[-1].submitted_at if blocks else None

    def chart(self, span: str, account: str | None = None) -> dict[str, Any] | None:
        points = self.history.series(span, account, self.clock())
        if points is None:
            return None
        return {"range": span, "bucket_s": SERIES[span].bucket_s,
                "points": [{"time": t, "hashrate_hs": v} for t, v in points]}  # fmt: skip

    def memory_blocks(self, limit: int, offset: int,
                      account: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Blocks newest first from the pool's own list (no ledger)."""
        blocks = list(self.facts.blocks) if self.facts is not None else []
        rows = [_outcome_row(b) for b in reversed(blocks)
                if account is None or account_of(b.worker) == account]  # fmt: skip
        return page_of(rows[offset:offset + limit], "blocks", limit, offset,
                     offset + limit < len(rows))  # fmt: skip

    # ---- one account

    def _worker_row(self, v: WorkerView | None, name: str, now: float) -> dict[str, Any]:
        session = self.server.worker_session.get(name)
        connected = name in self.server.worker_connections
        if v is None or not v.accepted:
            status = "new" if connected else "offline"
        else:
            status = "online" if now - v.last_share <= self.section.offline_after else "offline"
        rig = name.split(".", 1)[1] if "." in name else ""
        return {
            "worker": name,
            "rig": rig,
            "status": status,
            "connected": connected,
            "hashrate_hs": 0.0 if v is None else v.hashrate,
            "accepted_shares": 0 if v is None else v.accepted,
            "last_share_time": None if v is None else v.last_share,
            "difficulty": None if session is None or session.closed else float(session.difficulty),
            "rejected": _rejected(self.rejects.counts(name)),
            "best_share_difficulty": None if v is None or not v.best else v.best,
        }

    def worker_names(self, account: str) -> tuple[list[WorkerView], list[str]]:
        """The account's workers with shares (highest hashrate first) and those connected
        without a share yet: O(its workers)."""
        now = self.clock()
        views = self.workers.account(account, now)
        book = self.workers
        idle = [n for n in self.server.account_workers.get(account, {}) if n not in book]
        return views, idle

    def worker_rows(self, views: list[WorkerView], idle: list[str]) -> list[dict[str, Any]]:
        now = self.clock()
        rows = [self._worker_row(v, v.worker, now) for v in views]
        rows += [self._worker_row(None, n, now) for n in idle]
        order = {"online": 0, "new": 1, "offline": 2}
        rows.sort(key=lambda r: order[r["status"]])  # stable: hashrate order within each
        return rows

    def knows(self, account: str) -> bool:
        """Whether anything of this account is in memory (the ledger may know it too)."""
        return (account in self.history or bool(self.workers.account(account))
                or account in self.server.account_workers)  # fmt: skip

    def miner(
        self, account: str, rows: list[dict[str, Any]], balance: Any | None,
        window: PplnsWindow | None, *, ledger_read: bool = True,
    ) -> dict[str, Any]:
        """`balance`: the ledger's row (None: no credit yet, or, without `ledger_read`,
        no ledger to ask)."""
        now = self.clock()
        hashrate = sum(r["hashrate_hs"] for r in rows)
        online = sum(1 for r in rows if r["status"] == "online")
        lasts = [r["last_share_time"] for r in rows if r["last_share_time"] is not None]
        window_answer = None
        if window is not None:
            mine = window.of(account)
            window_answer = {
                "shares": mine.shares, "difficulty": mine.difficulty,
                "window_difficulty": window.total,
                "fraction": mine.difficulty / window.total if window.total > 0 else 0.0,
                "complete": window.complete,
            }  # fmt: skip
        balance_answer = None
        if balance is not None:
            balance_answer = {"immature_sat": balance.immature, "payable_sat": balance.payable,
                              "pending_sat": balance.pending, "paid_sat": balance.paid}  # fmt: skip
        elif ledger_read and self.config.ledger is not None and self.config.mode == "pool":
            balance_answer = {"immature_sat": 0, "payable_sat": 0, "pending_sat": 0,
                              "paid_sat": 0}  # fmt: skip
        return {
            "account": account,
            "time": now,
            "mode": self.config.mode,
            "hashrate_hs": hashrate,
            "workers_online": online,
            "workers_offline": len(rows) - online,
            "last_share_time": max(lasts) if lasts else None,
            "offline_after_s": self.section.offline_after,
            "expected_block_s": self._expected(hashrate),
            "pplns_window": window_answer,
            "balance": balance_answer,
        }
