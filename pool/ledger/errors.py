"""Named ledger errors: callers (the pool, the CLI) decide what to tell a miner or an
operator from the type, never by parsing a message."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class InvalidShare(LedgerError, ValueError):
    """A share record failed validation; it was not stored."""


class InvalidBlock(LedgerError, ValueError):
    """A found-block record failed validation; it was not stored."""


class InvalidAmount(LedgerError, ValueError):
    """A satoshi amount, fee or window parameter is out of range."""


class SharesNotStored(InvalidShare):
    """Some shares of a batch were refused (invalid, or rejected by the database); every
    other share of the batch IS stored. `failed_rows` holds the refused positions in the
    batch, `ids` the stored ids (None at a refused position), `reasons` why, by position.
    The pool answers the refused shares with an error and the others `true`."""

    def __init__(
        self, ids: list[int | None], reasons: dict[int, str]
    ) -> None:
        self.ids = ids
        self.reasons = reasons
        self.failed_rows = frozenset(reasons)
        first = min(reasons)
        super().__init__(
            f"{len(reasons)} of {len(ids)} shares not stored (row {first}: {reasons[first]})"
        )


class LedgerClosed(LedgerError, RuntimeError):
    """A write was submitted after the ledger began closing."""


class SchemaTooNew(LedgerError, RuntimeError):
    """The database was migrated by a newer release than this one."""


class UnknownShare(LedgerError, LookupError):
    """A block refers to a share id that is not in the ledger."""


class UnknownBlock(LedgerError, LookupError):
    """A status change refers to a block that is not in the ledger."""


class UnknownBatch(LedgerError, LookupError):
    """A payout operation refers to a batch id that is not in the ledger."""


class MissingNetworkInfo(LedgerError, LookupError):
    """PPS/FPPS settlement met shares at heights with no recorded network difficulty
    and block value; settling them would guess their worth."""

    def __init__(self, heights: list[int]) -> None:
        self.heights = heights
        shown = ", ".join(str(h) for h in heights[:10])
        more = " ..." if len(heights) > 10 else ""
        super().__init__(
            f"no network info (difficulty, subsidy, fees) recorded for heights {shown}{more}; "
            "the pool must call record_network for each height it builds jobs at"
        )


class UnfinishedPayout(LedgerError, RuntimeError):
    """A payout batch is recorded but not known to be sent; it must be reconciled
    against the wallet before a new batch is built."""

    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
        super().__init__(f"payout batch {batch_id} is not reconciled yet")


class PayoutInDoubt(LedgerError, RuntimeError):
    """A recorded batch is not matched exactly by any wallet transaction, but some
    resemble it; resending could pay twice, so an operator must decide (resolve_batch
    with the txid, or cancel_batch)."""

    def __init__(self, batch_id: int, suspects: list[str]) -> None:
        self.batch_id = batch_id
        self.suspects = suspects
        super().__init__(
            f"payout batch {batch_id} is in doubt: wallet transactions {', '.join(suspects)} "
            "resemble it without matching its outputs exactly; not resending"
        )


class PayoutStillInWallet(LedgerError, RuntimeError):
    """A batch cannot be cancelled: the wallet shows a transaction paying it."""
