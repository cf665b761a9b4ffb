"""Domain operations on a ledger database, written once for both backends.

Synchronous and single-threaded per instance: the async `Ledger` runs it on a thread of
its own, the CLI calls it directly. Every state change is one transaction that also
updates `balances`, so balances always equal the credits and payouts behind them.

Long reads (a PPLNS window, shares to settle) happen outside the writer lock; the write
transaction re-checks the boundaries it depended on and starts over if another process
moved them in between, so no share is ever paid twice or skipped.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from fractions import Fraction

from pool.ledger import accounting
from pool.ledger.backend import Backend, Row, Tx
from pool.ledger.config import LedgerConfig
from pool.ledger.errors import (
    InvalidAmount,
    MissingNetworkInfo,
    UnfinishedPayout,
    UnknownBatch,
    UnknownBlock,
    UnknownShare,
)
from pool.ledger.maturity import block_status
from pool.ledger.records import (
    BalanceRow,
    BlockRow,
    BlockStatus,
    FoundBlock,
    PayoutBatch,
    PayoutStatus,
    QuarantineRow,
    Scheme,
    Share,
)

BLOCK_SCHEMES = (Scheme.PPLNS.value, Scheme.PROP.value)
BLOCK_COLUMNS = (
    "b.id, b.height, b.hash, b.reward, b.fees, b.status, b.scheme, b.account, b.worker, "
    "b.share_id, b.found_at, "
    "(SELECT coalesce(sum(c.amount), 0) FROM credits c WHERE c.block_id = b.id)"
)
MAX_RETRIES = 20


def _block_row(row: Row) -> BlockRow:
    return BlockRow(
        id=int(row[0]), height=int(row[1]), hash=row[2], reward=int(row[3]), fees=int(row[4]),
        status=BlockStatus(row[5]), scheme=Scheme(row[6]), account=row[7], worker=row[8],
        share_id=int(row[9]), found_at=float(row[10]), credited=int(row[11]),
    )


def add_balance(
    tx: Tx, account: str, *, immature: int = 0, payable: int = 0, pending: int = 0, paid: int = 0
) -> None:
    """Move satoshis between an account's buckets; the CHECK constraints reject any bucket
    going negative, which would mean paying out money the ledger does not hold."""
    # Not an upsert: CHECK constraints see the would-be inserted row (with negative deltas)
    # before ON CONFLICT is considered, so make sure the row exists, then add.
    tx.run(
        "INSERT INTO balances (account) VALUES (?) ON CONFLICT (account) DO NOTHING", (account,)
    )
    tx.run(
        "UPDATE balances SET immature = immature + ?, payable = payable + ?, "
        "pending = pending + ?, paid = paid + ? WHERE account = ?",
        (immature, payable, pending, paid, account),
    )


class LedgerStore:
    def __init__(self, backend: Backend, config: LedgerConfig) -> None:
        self.backend = backend
        self.config = config
        self.fee_rate = accounting.fee_rate(config.fee_percent)

    # -- shares and network ------------------------------------------------------------

    def insert_shares(self, shares: list[Share]) -> list[int]:
        return self.backend.insert_shares(shares)

    def shares(self, after_id: int = 0, limit: int = 1_000_000) -> list[tuple[int, Share]]:
        """Stored shares in id order (for audits and tests)."""
        with self.backend.read() as tx:
            rows = tx.all(
                "SELECT id, account, worker, difficulty, job_id, height, time, is_block "
                "FROM shares WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            )
        return [
            (int(r[0]), Share(r[1], r[2], Fraction(r[3]), r[4], int(r[5]), float(r[6]), bool(r[7])))
            for r in rows
        ]

    def record_network(
        self, height: int, network_difficulty: Fraction, subsidy: int, fees: int
    ) -> None:
        """What a share at `height` is worth under PPS/FPPS: the network difficulty and the
        block value of the template. The latest call for a height wins."""
        if height < 0 or subsidy < 0 or fees < 0 or network_difficulty <= 0:
            raise InvalidAmount(
                f"network info out of range: height={height} difficulty={network_difficulty} "
                f"subsidy={subsidy} fees={fees}"
            )
        with self.backend.write() as tx:
            tx.run(
                "INSERT INTO network (height, difficulty, subsidy, fees) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (height) DO UPDATE SET difficulty = excluded.difficulty, "
                "subsidy = excluded.subsidy, fees = excluded.fees",
                (height, str(Fraction(network_difficulty)), subsidy, fees),
            )

    # -- blocks and rounds ----------------------------------------------------------------

    def _boundaries(self, share_id: int) -> tuple[int, int]:
        """(last share settled by PPS, last share of the previous found block)."""
        with self.backend.read() as tx:
            return self._boundaries_tx(tx, share_id)

    @staticmethod
    def _boundaries_tx(tx: Tx, share_id: int) -> tuple[int, int]:
        settled = tx.scalar("SELECT coalesce(max(last_share_id), 0) FROM settlements")
        previous = tx.scalar(
            "SELECT coalesce(max(share_id), 0) FROM blocks WHERE share_id < ?", (share_id,)
        )
        return int(settled), int(previous)

    def _shares_desc(self, upto: int, after: int) -> Iterator[tuple[int, str, Fraction]]:
        for share_id, account, difficulty in self.backend.iter_shares_desc(upto, after):
            yield share_id, account, Fraction(difficulty)

    def block_by_hash(self, block_hash: str) -> BlockRow | None:
        with self.backend.read() as tx:
            row = tx.one(f"SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.hash = ?", (block_hash,))
        return None if row is None else _block_row(row)

    def record_block(self, found: FoundBlock) -> BlockRow:
        """Record a found block and its credits (immature until it is confirmed). Recording
        the same hash again returns the existing row and credits nothing.

        PPLNS and PROP share the reward out. PPS/FPPS blocks credit nothing (the shares
        were paid at settlement; the reward refills the pool's wallet) and SOLO blocks
        credit nothing (the coinbase paid the finder); all are followed to maturity."""
        existing = self.block_by_hash(found.hash)
        if existing is not None:
            return existing
        scheme = Scheme(self.config.scheme)
        # Every share with an id up to the block's share is committed once the horizon
        # passes it (the block's share itself was acknowledged before this call).
        horizon = self.backend.share_horizon()
        if found.share_id > horizon:
            raise UnknownShare(f"share {found.share_id} is not in the ledger (horizon {horizon})")
        with self.backend.read() as tx:
            if tx.one("SELECT id FROM shares WHERE id = ?", (found.share_id,)) is None:
                raise UnknownShare(f"share {found.share_id} is not in the ledger")
        for _ in range(MAX_RETRIES):
            settled, previous = self._boundaries(found.share_id)
            window: accounting.Window | None = None
            window_size: Fraction | None = None
            if scheme is Scheme.PPLNS:
                window_size = accounting.pplns_window_size(
                    self.config.pplns_n, found.network_difficulty
                )
                window = accounting.pplns_weights(
                    self._shares_desc(found.share_id, settled), window_size
                )
            elif scheme is Scheme.PROP:
                window = accounting.prop_weights(
                    self._shares_desc(found.share_id, max(settled, previous))
                )
            with self.backend.write() as tx:
                row = tx.one(
                    f"SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.hash = ?", (found.hash,)
                )
                if row is not None:
                    return _block_row(row)
                if self._boundaries_tx(tx, found.share_id) != (settled, previous):
                    continue  # another process settled or found a block meanwhile: recount
                now = time.time()
                block_id = tx.insert(
                    "INSERT INTO blocks (height, hash, reward, fees, share_id, account, worker, "
                    "network_difficulty, scheme, status, found_at, status_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (found.height, found.hash, found.reward, found.fees, found.share_id,
                     found.account, found.worker, str(found.network_difficulty), scheme.value,
                     BlockStatus.PENDING.value, now, now),
                )
                if window is not None:
                    tx.run(
                        "INSERT INTO rounds (block_id, scheme, first_share_id, last_share_id, "
                        "shares, work, window_work) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (block_id, scheme.value, window.first_share_id, window.last_share_id,
                         window.shares, str(window.work),
                         None if window_size is None else str(window_size)),
                    )
                    allocation = accounting.split_reward(
                        found.reward, window.weights, self.fee_rate, self.config.fee_account
                    )
                    for account, amount, kind in allocation.credit_rows():
                        tx.run(
                            "INSERT INTO credits (account, amount, kind, block_id) "
                            "VALUES (?, ?, ?, ?)",
                            (account, amount, kind, block_id),
                        )
                        add_balance(tx, account, immature=amount)
                row = tx.one(f"SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.id = ?", (block_id,))
                assert row is not None
                return _block_row(row)
        raise RuntimeError(f"block {found.hash}: boundaries kept moving; gave up after retries")

    def set_block_status(self, block_id: int, status: BlockStatus) -> bool:
        """Move a pending block to confirmed (its credits become payable) or orphaned (its
        credits are void for ever). Both are final; returns whether anything changed."""
        status = BlockStatus(status)
        with self.backend.write() as tx:
            current = tx.scalar("SELECT status FROM blocks WHERE id = ?", (block_id,))
            if current is None:
                raise UnknownBlock(f"no block with id {block_id}")
            if current != BlockStatus.PENDING.value or status is BlockStatus.PENDING:
                return False
            credits = tx.all(
                "SELECT account, sum(amount) FROM credits WHERE block_id = ? "
                "GROUP BY account ORDER BY account",
                (block_id,),
            )
            for account, amount in credits:
                if status is BlockStatus.CONFIRMED:
                    add_balance(tx, account, immature=-int(amount), payable=int(amount))
                else:
                    add_balance(tx, account, immature=-int(amount))
            tx.run(
                "UPDATE blocks SET status = ?, status_at = ? WHERE id = ?",
                (status.value, time.time(), block_id),
            )
            return True

    def apply_node_view(
        self, block: BlockRow, node_hash: str | None, tip_height: int
    ) -> BlockStatus:
        """Decide (pure) and apply the status a pending block should have now."""
        status = block_status(
            block.height, block.hash, node_hash, tip_height, self.config.maturity
        )
        if status is not BlockStatus.PENDING:
            self.set_block_status(block.id, status)
        return status

    def blocks(self, status: BlockStatus | None = None, limit: int = 1000) -> list[BlockRow]:
        where = "" if status is None else "WHERE b.status = ? "
        params: tuple[object, ...] = () if status is None else (BlockStatus(status).value,)
        with self.backend.read() as tx:
            rows = tx.all(
                f"SELECT {BLOCK_COLUMNS} FROM blocks b {where}ORDER BY b.height DESC, b.id DESC "
                "LIMIT ?",
                (*params, limit),
            )
        return [_block_row(r) for r in rows]

    def credits(self, block_id: int | None = None) -> list[tuple[str, int, str]]:
        """(account, satoshis, kind) of one block, or of everything."""
        where, params = ("WHERE block_id = ? ", (block_id,)) if block_id is not None else ("", ())
        with self.backend.read() as tx:
            rows = tx.all(f"SELECT account, amount, kind FROM credits {where}ORDER BY id", params)
        return [(r[0], int(r[1]), r[2]) for r in rows]

    # -- PPS / FPPS settlement ------------------------------------------------------------

    def _settle_rows(self, after: int, upto: int) -> Iterator[Row]:
        high = after
        while high < upto:
            with self.backend.read() as tx:
                rows = tx.all(
                    "SELECT s.id, s.account, s.difficulty, s.height, n.difficulty, n.subsidy, "
                    "n.fees FROM shares s LEFT JOIN network n ON n.height = s.height "
                    "WHERE s.id > ? AND s.id <= ? ORDER BY s.id LIMIT 20000",
                    (high, upto),
                )
            if not rows:
                return
            yield from rows
            high = rows[-1][0]

    def settle(self) -> int | None:
        """Credit every unsettled share at its expected value (PPS: subsidy, FPPS: subsidy +
        fees), payable at once. Returns the settlement id, or None if nothing was due or
        the scheme is not PPS/FPPS."""
        scheme = Scheme(self.config.scheme)
        if scheme not in (Scheme.PPS, Scheme.FPPS):
            return None
        for _ in range(MAX_RETRIES):
            horizon = self.backend.share_horizon()
            with self.backend.read() as tx:
                last = tx.one(
                    "SELECT last_share_id, carry_out FROM settlements ORDER BY id DESC LIMIT 1"
                )
                last_round = tx.scalar(
                    "SELECT coalesce(max(last_share_id), 0) FROM rounds WHERE scheme IN (?, ?)",
                    BLOCK_SCHEMES,
                )
            last_settled = 0 if last is None else int(last[0])
            carry = Fraction(0) if last is None else Fraction(last[1])
            after = max(last_settled, int(last_round))
            if horizon <= after:
                return None
            missing: set[int] = set()
            count = 0

            def valued(
                rows: Iterable[Row], missing: set[int] = missing
            ) -> Iterator[tuple[str, Fraction, Fraction, int]]:
                nonlocal count
                for _id, account, difficulty, height, net_diff, subsidy, fees in rows:
                    count += 1
                    if net_diff is None:
                        missing.add(int(height))
                        continue
                    value = int(subsidy) + (int(fees) if scheme is Scheme.FPPS else 0)
                    yield account, Fraction(difficulty), Fraction(net_diff), value

            result = accounting.pps(
                valued(self._settle_rows(after, horizon)),
                self.fee_rate, self.config.fee_account, carry,
            )
            if missing:
                raise MissingNetworkInfo(sorted(missing))
            with self.backend.write() as tx:
                again = tx.scalar("SELECT coalesce(max(last_share_id), 0) FROM settlements")
                if int(again) != last_settled:
                    continue
                settlement_id = tx.insert(
                    "INSERT INTO settlements (scheme, after_share_id, last_share_id, shares, "
                    "gross, carry_out, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (scheme.value, after, horizon, count, str(result.gross),
                     str(result.carry_out), time.time()),
                )
                for account, amount, kind in result.allocation.credit_rows():
                    tx.run(
                        "INSERT INTO credits (account, amount, kind, settlement_id) "
                        "VALUES (?, ?, ?, ?)",
                        (account, amount, kind, settlement_id),
                    )
                    add_balance(tx, account, payable=amount)
                return settlement_id
        raise RuntimeError("settlement boundaries kept moving; gave up after retries")

    # -- balances and payouts -------------------------------------------------------------

    def balances(self) -> list[BalanceRow]:
        with self.backend.read() as tx:
            rows = tx.all(
                "SELECT account, immature, payable, pending, paid FROM balances ORDER BY account"
            )
        return [BalanceRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def due_payouts(self, min_payout: int) -> dict[str, int]:
        with self.backend.read() as tx:
            rows = tx.all(
                "SELECT account, payable FROM balances WHERE payable >= ? AND payable > 0 "
                "ORDER BY account",
                (min_payout,),
            )
        return {r[0]: int(r[1]) for r in rows}

    def _batch(self, tx: Tx, row: Row) -> PayoutBatch:
        outputs = tx.all(
            "SELECT account, amount, coalesce(address, account) FROM payouts WHERE batch_id = ? "
            "ORDER BY account",
            (row[0],),
        )
        return PayoutBatch(
            id=int(row[0]), status=PayoutStatus(row[1]), txid=row[2],
            outputs={a: int(v) for a, v, _ in outputs}, created_at=float(row[3]),
            addresses={a: address for a, _, address in outputs},
        )

    def batches(self, status: PayoutStatus | None = None) -> list[PayoutBatch]:
        where = "" if status is None else "WHERE status = ? "
        params: tuple[object, ...] = () if status is None else (PayoutStatus(status).value,)
        with self.backend.read() as tx:
            rows = tx.all(
                f"SELECT id, status, txid, created_at FROM payout_batches {where}ORDER BY id",
                params,
            )
            return [self._batch(tx, r) for r in rows]

    def unfinished_batches(self) -> list[PayoutBatch]:
        return self.batches(PayoutStatus.CREATED)

    def recorded_txids(self) -> set[str]:
        with self.backend.read() as tx:
            rows = tx.all("SELECT txid FROM payout_batches WHERE txid IS NOT NULL")
        return {r[0] for r in rows}

    def create_batch(
        self, min_payout: int, addresses: Mapping[str, str] | None = None,
        accounts: Collection[str] | None = None,
    ) -> PayoutBatch | None:
        """Record a batch of every payable balance >= min_payout (of `accounts` only, when
        given), each paid at `addresses[account]` (the account itself by default), moving
        the amounts from payable to pending, before anything is sent. Refuses while an
        earlier batch is not reconciled, so at most one batch is ever in doubt."""
        if min_payout < 1:
            raise InvalidAmount(f"minimum payout must be at least 1 satoshi, got {min_payout}")
        with self.backend.write() as tx:
            open_batch = tx.scalar(
                "SELECT min(id) FROM payout_batches WHERE status = ?", (PayoutStatus.CREATED.value,)
            )
            if open_batch is not None:
                raise UnfinishedPayout(int(open_batch))
            due = tx.all(
                "SELECT account, payable FROM balances WHERE payable >= ? AND payable > 0 "
                "ORDER BY account",
                (min_payout,),
            )
            if accounts is not None:
                due = [row for row in due if row[0] in accounts]
            if not due:
                return None
            total = sum(int(amount) for _, amount in due)
            batch_id = tx.insert(
                "INSERT INTO payout_batches (status, total, created_at) VALUES (?, ?, ?) "
                "RETURNING id",
                (PayoutStatus.CREATED.value, total, time.time()),
            )
            for account, amount in due:
                tx.run(
                    "INSERT INTO payouts (batch_id, account, amount, address) VALUES (?, ?, ?, ?)",
                    (batch_id, account, int(amount), (addresses or {}).get(account, account)),
                )
                add_balance(tx, account, payable=-int(amount), pending=int(amount))
            row = tx.one(
                "SELECT id, status, txid, created_at FROM payout_batches WHERE id = ?", (batch_id,)
            )
            assert row is not None
            return self._batch(tx, row)

    def _finish(self, batch_id: int, status: PayoutStatus, txid: str | None) -> bool:
        with self.backend.write() as tx:
            row = tx.one("SELECT status, txid FROM payout_batches WHERE id = ?", (batch_id,))
            if row is None:
                raise UnknownBatch(f"no payout batch with id {batch_id}")
            if row[0] != PayoutStatus.CREATED.value:
                if row[0] == status.value and row[1] == txid:
                    return False
                raise RuntimeError(f"payout batch {batch_id} is already {row[0]} ({row[1]})")
            for account, amount in tx.all(
                "SELECT account, amount FROM payouts WHERE batch_id = ?", (batch_id,)
            ):
                if status is PayoutStatus.SENT:
                    add_balance(tx, account, pending=-int(amount), paid=int(amount))
                else:
                    add_balance(tx, account, pending=-int(amount), payable=int(amount))
            tx.run(
                "UPDATE payout_batches SET status = ?, txid = ?, finished_at = ? WHERE id = ?",
                (status.value, txid, time.time(), batch_id),
            )
            return True

    def mark_batch_sent(self, batch_id: int, txid: str) -> bool:
        if not isinstance(txid, str) or not txid:
            raise InvalidAmount(f"wallet returned no txid for batch {batch_id}: {txid!r}")
        return self._finish(batch_id, PayoutStatus.SENT, txid)

    def cancel_batch(self, batch_id: int) -> bool:
        """Give a never-sent batch's amounts back to payable. Only `payouts.cancel_batch`
        calls this, after the wallet showed no transaction paying the batch."""
        return self._finish(batch_id, PayoutStatus.CANCELLED, None)

    # -- quarantine: accounts no payout goes to -------------------------------------------

    def quarantined(self) -> dict[str, QuarantineRow]:
        with self.backend.read() as tx:
            rows = tx.all(
                "SELECT account, address, reason, since FROM quarantine ORDER BY account"
            )
        return {r[0]: QuarantineRow(r[0], r[1], r[2], float(r[3])) for r in rows}

    def quarantine(self, account: str, address: str, reason: str) -> None:
        """Keep `account` out of payouts while it resolves to `address` ("" when it has no
        payout address at all); its balance stays payable, nothing is lost."""
        with self.backend.write() as tx:
            tx.run(
                "INSERT INTO quarantine (account, address, reason, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account) DO UPDATE SET address = excluded.address, "
                "reason = excluded.reason, since = excluded.since",
                (account, address, reason[:500], time.time()),
            )

    def release(self, accounts: Iterable[str] | None = None) -> int:
        """Let quarantined accounts (all, with None) be paid again; returns how many."""
        with self.backend.write() as tx:
            if accounts is None:
                return tx.run("DELETE FROM quarantine")
            return sum(tx.run("DELETE FROM quarantine WHERE account = ?", (a,)) for a in accounts)

    # -- bans of a SQLite cluster (its ledger writer's; PostgreSQL's: pool.ledger.bans) -------

    def record_ban(self, key: str, until: float, reason: str, node: str) -> None:
        """Keep `key` refused until `until` (the later of two bans wins)."""
        with self.backend.write() as tx:
            tx.run(
                "INSERT INTO bans (key, until, reason, node) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET until = CASE WHEN excluded.until > bans.until "
                "THEN excluded.until ELSE bans.until END, reason = excluded.reason, "
                "node = excluded.node",
                (key, until, reason, node),
            )

    def running_bans(self, now: float, limit: int) -> list[tuple[str, float]]:
        """The bans still running at `now`, the longest first (ended ones are dropped:
        the table holds no more than the bans of the last `ban_seconds`)."""
        with self.backend.write() as tx:
            tx.run("DELETE FROM bans WHERE until <= ?", (now,))
            rows = tx.all("SELECT key, until FROM bans ORDER BY until DESC LIMIT ?", (limit,))
        return [(str(r[0]), float(r[1])) for r in rows]

    def close(self) -> None:
        self.backend.close()
