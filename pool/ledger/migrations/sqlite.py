"""SQLite schema. Amounts are INTEGER (64-bit) satoshis; difficulties TEXT fractions."""

from __future__ import annotations

from pool.ledger.migrations import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "shares, blocks, rounds, credits, balances",
        (
            """CREATE TABLE shares (
                id INTEGER PRIMARY KEY,
                account TEXT NOT NULL,
                worker TEXT NOT NULL,
                difficulty TEXT NOT NULL,
                job_id TEXT NOT NULL,
                time REAL NOT NULL,
                height INTEGER NOT NULL,
                is_block INTEGER NOT NULL CHECK (is_block IN (0, 1))
            )""",
            """CREATE TABLE network (
                height INTEGER PRIMARY KEY,
                difficulty TEXT NOT NULL,
                subsidy INTEGER NOT NULL CHECK (subsidy >= 0),
                fees INTEGER NOT NULL CHECK (fees >= 0)
            )""",
            """CREATE TABLE blocks (
                id INTEGER PRIMARY KEY,
                height INTEGER NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                reward INTEGER NOT NULL CHECK (reward >= 0),
                fees INTEGER NOT NULL CHECK (fees >= 0),
                share_id INTEGER NOT NULL REFERENCES shares (id),
                account TEXT NOT NULL,
                worker TEXT NOT NULL,
                network_difficulty TEXT NOT NULL,
                scheme TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'orphaned')),
                found_at REAL NOT NULL,
                status_at REAL NOT NULL
            )""",
            "CREATE INDEX blocks_status ON blocks (status)",
            """CREATE TABLE rounds (
                id INTEGER PRIMARY KEY,
                block_id INTEGER NOT NULL UNIQUE REFERENCES blocks (id),
                scheme TEXT NOT NULL,
                first_share_id INTEGER,
                last_share_id INTEGER,
                shares INTEGER NOT NULL,
                work TEXT NOT NULL,
                window_work TEXT
            )""",
            """CREATE TABLE settlements (
                id INTEGER PRIMARY KEY,
                scheme TEXT NOT NULL,
                after_share_id INTEGER NOT NULL,
                last_share_id INTEGER NOT NULL,
                shares INTEGER NOT NULL,
                gross TEXT NOT NULL,
                carry_out TEXT NOT NULL,
                created_at REAL NOT NULL
            )""",
            """CREATE TABLE credits (
                id INTEGER PRIMARY KEY,
                account TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                kind TEXT NOT NULL,
                block_id INTEGER REFERENCES blocks (id),
                settlement_id INTEGER REFERENCES settlements (id),
                CHECK ((block_id IS NULL) <> (settlement_id IS NULL))
            )""",
            "CREATE INDEX credits_block ON credits (block_id)",
            """CREATE TABLE balances (
                account TEXT PRIMARY KEY,
                immature INTEGER NOT NULL DEFAULT 0 CHECK (immature >= 0),
                payable INTEGER NOT NULL DEFAULT 0 CHECK (payable >= 0),
                pending INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),
                paid INTEGER NOT NULL DEFAULT 0 CHECK (paid >= 0)
            )""",
        ),
    ),
    Migration(
        2,
        "payout batches",
        (
            """CREATE TABLE payout_batches (
                id INTEGER PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN ('created', 'sent', 'cancelled')),
                txid TEXT UNIQUE,
                total INTEGER NOT NULL CHECK (total > 0),
                created_at REAL NOT NULL,
                finished_at REAL
            )""",
            """CREATE TABLE payouts (
                batch_id INTEGER NOT NULL REFERENCES payout_batches (id),
                account TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                PRIMARY KEY (batch_id, account)
            )""",
        ),
    ),
    Migration(
        3,
        "payout addresses and quarantine",
        (
            # the address each output paid (NULL before: the account was the address), so
            # reconciling a batch never depends on a mapping that changed since
            "ALTER TABLE payouts ADD COLUMN address TEXT",
            # accounts no payout goes to: not an address, or an address the wallet refused
            """CREATE TABLE quarantine (
                account TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                reason TEXT NOT NULL,
                since REAL NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "indexes for the miners' page",
        (
            # one account's payouts, newest first, without scanning every batch's outputs
            "CREATE INDEX payouts_account ON payouts (account, batch_id)",
            # one account's blocks (solo finders)
            "CREATE INDEX blocks_account ON blocks (account, height)",
        ),
    ),
    Migration(
        5,
        "bans shared by a cluster's processes",
        (
            # an address (pool.stratum.limits.address_key) refused until `until` (epoch
            # seconds) by every pool process and host (pool.ledger.bans)
            """CREATE TABLE bans (
                key TEXT PRIMARY KEY,
                until REAL NOT NULL,
                reason TEXT NOT NULL,
                node TEXT NOT NULL
            )""",
        ),
    ),
)
