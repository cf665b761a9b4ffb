"""The share ledger: durable group-committed shares (SQLite or PostgreSQL), found blocks
followed to maturity or orphanhood, PPLNS/PPS/FPPS/PROP/SOLO accounting in integer
satoshis, and exactly-once payouts through an injected wallet."""

from pool.ledger.config import LedgerConfig
from pool.ledger.errors import (
    InvalidAmount,
    InvalidShare,
    LedgerClosed,
    LedgerError,
    MissingNetworkInfo,
    PayoutInDoubt,
    SchemaTooNew,
    UnfinishedPayout,
    UnknownShare,
)
from pool.ledger.factory import open_backend, open_store
from pool.ledger.ledger import ChainView, Ledger
from pool.ledger.maturity import COINBASE_MATURITY, block_status
from pool.ledger.records import (
    BalanceRow,
    BlockRow,
    BlockStatus,
    FoundBlock,
    PayoutBatch,
    PayoutStatus,
    Scheme,
    Share,
)
from pool.ledger.sink import LedgerSink
from pool.ledger.store import LedgerStore
from pool.ledger.wallet import NodeWalletAdapter, Wallet, as_wallet

__all__ = [
    "COINBASE_MATURITY",
    "BalanceRow",
    "BlockRow",
    "BlockStatus",
    "ChainView",
    "FoundBlock",
    "InvalidAmount",
    "InvalidShare",
    "Ledger",
    "LedgerClosed",
    "LedgerConfig",
    "LedgerError",
    "LedgerSink",
    "LedgerStore",
    "MissingNetworkInfo",
    "NodeWalletAdapter",
    "PayoutBatch",
    "PayoutInDoubt",
    "PayoutStatus",
    "SchemaTooNew",
    "Scheme",
    "Share",
    "UnfinishedPayout",
    "UnknownShare",
    "Wallet",
    "as_wallet",
    "block_status",
    "open_backend",
    "open_store",
]
