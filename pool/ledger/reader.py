"""Reads for the miners' page: one account's balance and payouts, blocks a page at a
time, and the current PPLNS window, each an indexed query or an incremental walk.

A `LedgerReader` has a database connection of its own (a read transaction never blocks
a share commit, and the accounting thread never waits behind a web page); the stats
API runs it on one thread and caches what it answers.

The PPLNS window (`PplnsWindow`) is the last `pplns_n` x network difficulty of share
difficulty, the one a block found now would pay. Walking it whole on every request would
read every share in it; instead it moves: each refresh adds the shares committed since
the last one and drops the oldest ones that fell out (or reaches further back when the
network difficulty rose), so a refresh reads about as many shares as were submitted
since the previous one. The figures are for display: a share straddling the window's
edge counts whole here (the ledger credits the part inside).
"""

from __future__ import annotations

from dataclasses import dataclass

from pool.ledger.backend import Backend, Row
from pool.ledger.records import BalanceRow, BlockRow
from pool.ledger.store import BLOCK_COLUMNS, _block_row

CHUNK = 5_000  # shares read per query while the window moves
MAX_ROWS_PER_REFRESH = 500_000  # a refresh stops here and carries on at the next one


@dataclass(frozen=True, slots=True)
class PayoutRow:
    batch_id: int
    amount: int
    address: str
    status: str  # created (recorded, maybe sent), sent, cancelled
    txid: str | None
    created_at: float
    finished_at: float | None


def share_difficulty(text: str) -> float:
    """A stored difficulty ("65536", "1/1000") as a float, without building a Fraction."""
    numerator, _, denominator = text.partition("/")
    return int(numerator) / int(denominator) if denominator else float(numerator)


class LedgerReader:
    """Synchronous reads on a connection of its own (one thread at a time)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def balance(self, account: str) -> BalanceRow | None:
        with self.backend.read() as tx:
            row = tx.one(
                "SELECT account, immature, payable, pending, paid FROM balances WHERE account = ?",
                (account,),
            )
        return None if row is None else BalanceRow(row[0], int(row[1]), int(row[2]),
                                                   int(row[3]), int(row[4]))  # fmt: skip

    def payouts(self, account: str, limit: int, offset: int = 0) -> list[PayoutRow]:
        """One account's payouts, newest first (index payouts_account)."""
        with self.backend.read() as tx:
            rows = tx.all(
                "SELECT p.batch_id, p.amount, coalesce(p.address, p.account), b.status, b.txid, "
                "b.created_at, b.finished_at FROM payouts p "
                "JOIN payout_batches b ON b.id = p.batch_id "
                "WHERE p.account = ? ORDER BY p.batch_id DESC LIMIT ? OFFSET ?",
                (account, limit, offset),
            )
        return [PayoutRow(int(r[0]), int(r[1]), r[2], r[3], r[4], float(r[5]),
                          None if r[6] is None else float(r[6])) for r in rows]  # fmt: skip

    def blocks(self, limit: int, offset: int = 0, account: str | None = None) -> list[BlockRow]:
        """Blocks newest first, all of them or one account's (index blocks_account)."""
        where, params = ("WHERE b.account = ? ", (account,)) if account is not None else ("", ())
        with self.backend.read() as tx:
            rows = tx.all(
                f"SELECT {BLOCK_COLUMNS} FROM blocks b {where}"
                "ORDER BY b.height DESC, b.id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        return [_block_row(r) for r in rows]

    def block_counts(self) -> dict[str, int]:
        """{status: blocks} (index blocks_status)."""
        with self.backend.read() as tx:
            rows = tx.all("SELECT status, count(*) FROM blocks GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    def horizon(self) -> int:
        return self.backend.share_horizon()

    def floor(self) -> int:
        """The last share settled by PPS/FPPS (none of those is in a PPLNS window)."""
        with self.backend.read() as tx:
            return int(tx.scalar("SELECT coalesce(max(last_share_id), 0) FROM settlements"))

    def shares_after(self, after: int, upto: int, limit: int = CHUNK) -> list[Row]:
        """(id, account, difficulty text) with after < id <= upto, oldest first."""
        return self._shares("id > ? AND id <= ? ORDER BY id", (after, upto, limit))

    def shares_before(self, before: int, floor: int, limit: int = CHUNK) -> list[Row]:
        """(id, account, difficulty text) with floor < id < before, newest first."""
        return self._shares("id < ? AND id > ? ORDER BY id DESC", (before, floor, limit))

    def _shares(self, where_and_order: str, params: tuple[int, int, int]) -> list[Row]:
        with self.backend.read() as tx:
            return tx.all(
                f"SELECT id, account, difficulty FROM shares WHERE {where_and_order} LIMIT ?",
                params,
            )

    def close(self) -> None:
        self.backend.close()


@dataclass(frozen=True, slots=True)
class WindowShare:
    shares: int
    difficulty: float


class PplnsWindow:
    """The current PPLNS window, moved forward by `refresh` (see the module's note)."""

    def __init__(self) -> None:
        self.first = 0  # id of the oldest share in the window (0: empty)
        self.last = 0  # id of the newest share read
        self.total = 0.0  # summed difficulty in the window
        self.size = 0.0  # the window's length in difficulty at the last refresh
        self.complete = False  # the last refresh reached the horizon
        self.accounts: dict[str, list[float]] = {}  # account -> [shares, difficulty]

    def _reset(self) -> None:
        self.first = self.last = 0
        self.total = 0.0
        self.accounts = {}

    def _add(self, account: str, difficulty: float) -> None:
        entry = self.accounts.get(account)
        if entry is None:
            self.accounts[account] = [1, difficulty]
        else:
            entry[0] += 1
            entry[1] += difficulty
        self.total += difficulty

    def _remove(self, account: str, difficulty: float) -> None:
        entry = self.accounts.get(account)
        if entry is None:
            return
        entry[0] -= 1
        entry[1] -= difficulty
        if entry[0] <= 0:
            del self.accounts[account]
        self.total -= difficulty

    def refresh(self, reader: LedgerReader, size: float) -> None:
        """Move the window to the ledger's horizon with `size` (pplns_n x network
        difficulty), reading at most MAX_ROWS_PER_REFRESH shares."""
        self.size = size
        budget = MAX_ROWS_PER_REFRESH
        horizon = reader.horizon()
        floor = reader.floor()
        if self.first and self.first <= floor:  # a settlement took the window's shares
            self._reset()
        if not self.last:  # the first refresh: from the newest share back, not from the first
            self.last = max(horizon, floor)
            self.first = self.last + 1
        while self.last < horizon and budget > 0:  # newer shares join
            rows = reader.shares_after(self.last, horizon)
            if not rows:
                break
            for _, account, text in rows:
                self._add(account, share_difficulty(text))
            self.last = int(rows[-1][0])
            budget -= len(rows)
        while self.total > size and budget > 0:  # the oldest fall out, the rest still fill it
            rows = reader.shares_after(self.first - 1, self.last)
            if not rows:
                break
            for share_id, account, text in rows:
                difficulty = share_difficulty(text)
                if self.total - difficulty < size:
                    break
                self._remove(account, difficulty)
                self.first = int(share_id) + 1
                budget -= 1
            else:
                continue
            break
        while self.total < size and self.first > floor + 1 and budget > 0:  # reach back
            rows = reader.shares_before(self.first, floor)
            if not rows:
                break
            for share_id, account, text in rows:
                self._add(account, share_difficulty(text))
                self.first = int(share_id)
                budget -= 1
                if self.total >= size:
                    break
        self.complete = budget > 0

    def of(self, account: str) -> WindowShare:
        entry = self.accounts.get(account)
        return WindowShare(0, 0.0) if entry is None else WindowShare(int(entry[0]), entry[1])
