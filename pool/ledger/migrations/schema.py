"""The ledger's schema, written once for both backends.

Each statement names its column types by role: `{key}` a generated row id, `{int}` a
64-bit integer (satoshis, heights, ids), `{real}` a float (epoch seconds), `{flag}` the
`is_block` boolean. `render` spells them in one backend's SQL (`sqlite.py`,
`postgres.py`). The rendered text of a released migration must never change:
`tests/ledger/test_migrations.py` pins it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pool.ledger.migrations import Migration

SCHEMA: tuple[Migration, ...] = (
    Migration(
        1,
        "shares, blocks, rounds, credits, balances",
        (
            """CREATE TABLE shares (
                id {key},
                account TEXT NOT NULL,
                worker TEXT NOT NULL,
                difficulty TEXT NOT NULL,
                job_id TEXT NOT NULL,
                time {real} NOT NULL,
                height {int} NOT NULL,
                is_block {flag}
            )""",
            """CREATE TABLE network (
                height {int} PRIMARY KEY,
                difficulty TEXT NOT NULL,
                subsidy {int} NOT NULL CHECK (subsidy >= 0),
                fees {int} NOT NULL CHECK (fees >= 0)
            )""",
            """CREATE TABLE blocks (
                id {key},
                height {int} NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                reward {int} NOT NULL CHECK (reward >= 0),
                fees {int} NOT NULL CHECK (fees >= 0),
                share_id {int} NOT NULL REFERENCES shares (id),
                account TEXT NOT NULL,
                worker TEXT NOT NULL,
                network_difficulty TEXT NOT NULL,
                scheme TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'orphaned')),
                found_at {real} NOT NULL,
                status_at {real} NOT NULL
            )""",
            "CREATE INDEX blocks_status ON blocks (status)",
            """CREATE TABLE rounds (
                id {key},
                block_id {int} NOT NULL UNIQUE REFERENCES blocks (id),
                scheme TEXT NOT NULL,
                first_share_id {int},
                last_share_id {int},
                shares {int} NOT NULL,
                work TEXT NOT NULL,
                window_work TEXT
            )""",
            """CREATE TABLE settlements (
                id {key},
                scheme TEXT NOT NULL,
                after_share_id {int} NOT NULL,
                last_share_id {int} NOT NULL,
                shares {int} NOT NULL,
                gross TEXT NOT NULL,
                carry_out TEXT NOT NULL,
                created_at {real} NOT NULL
            )""",
            """CREATE TABLE credits (
                id {key},
                account TEXT NOT NULL,
                amount {int} NOT NULL CHECK (amount > 0),
                kind TEXT NOT NULL,
                block_id {int} REFERENCES blocks (id),
                settlement_id {int} REFERENCES settlements (id),
                CHECK ((block_id IS NULL) <> (settlement_id IS NULL))
            )""",
            "CREATE INDEX credits_block ON credits (block_id)",
            """CREATE TABLE balances (
                account TEXT PRIMARY KEY,
                immature {int} NOT NULL DEFAULT 0 CHECK (immature >= 0),
                payable {int} NOT NULL DEFAULT 0 CHECK (payable >= 0),
                pending {int} NOT NULL DEFAULT 0 CHECK (pending >= 0),
                paid {int} NOT NULL DEFAULT 0 CHECK (paid >= 0)
            )""",
        ),
    ),
    Migration(
        2,
        "payout batches",
        (
            """CREATE TABLE payout_batches (
                id {key},
                status TEXT NOT NULL CHECK (status IN ('created', 'sent', 'cancelled')),
                txid TEXT UNIQUE,
                total {int} NOT NULL CHECK (total > 0),
                created_at {real} NOT NULL,
                finished_at {real}
            )""",
            """CREATE TABLE payouts (
                batch_id {int} NOT NULL REFERENCES payout_batches (id),
                account TEXT NOT NULL,
                amount {int} NOT NULL CHECK (amount > 0),
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
                since {real} NOT NULL
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
                until {real} NOT NULL,
                reason TEXT NOT NULL,
                node TEXT NOT NULL
            )""",
        ),
    ),
)


def render(types: Mapping[str, str]) -> tuple[Migration, ...]:
    """SCHEMA with each `{role}` replaced by this backend's spelling of it."""
    return tuple(
        Migration(m.version, m.name, tuple(s.format_map(types) for s in m.statements))
        for m in SCHEMA
    )
