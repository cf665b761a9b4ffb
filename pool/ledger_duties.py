"""The ledger leader's rounds: follow found blocks to maturity or orphanhood, settle
PPS/FPPS shares, and pay through `[wallet]`. One place for them, run by whichever process
leads: a pool process (stand-alone, or the one holding PostgreSQL's leader lock), or the
ledger writer process of a SQLite cluster (pool.cluster.ledger_process).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pool.config import PoolConfig
from pool.ledger.ledger import ChainView, Ledger
from pool.ledger.payouts import PayoutReport
from pool.ledger.records import BlockRow, BlockStatus

log = logging.getLogger("pool.app")

LEADER_CHECK = 2.0  # seconds between asks for the ledger's leadership


class LedgerDuties:
    """`maintain` and `pay` once, or `run` them every `ledger_interval` and
    `payout_interval` seconds while `lead()` says this process leads."""

    def __init__(self, config: PoolConfig, ledger: Ledger, node: ChainView | None, *,
                 on_quarantined: Callable[[int], None] = lambda count: None,
                 on_error: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        self.config = config
        self.ledger = ledger
        self.node = node
        self.on_quarantined = on_quarantined
        self.on_error = on_error
        self._wallet: Any = None  # pool.node.wallet.WalletClient, made on the first payout

    async def run(self, lead: Callable[[], Awaitable[bool]]) -> None:
        """Every few seconds: ask `lead`; while it says yes, do the rounds when due. A
        process that was not leading takes over within LEADER_CHECK seconds."""
        interval = self.config.ledger_interval
        pay_every = self.config.payout_interval
        tick = min(LEADER_CHECK, interval, pay_every or interval)
        due = time.monotonic() + interval
        pay_due = time.monotonic() + pay_every
        while True:
            await asyncio.sleep(tick)
            if not await lead():
                continue
            now = time.monotonic()
            if now >= due:
                due = now + interval
                await self._round("ledger maintenance", self.maintain)
            if pay_every and now >= pay_due:
                pay_due = now + pay_every
                await self._round("payouts", self.pay)

    async def _round(self, what: str, run: Callable[[], Awaitable[Any]]) -> None:
        """One round; a database, node or wallet hiccup is logged and counted, and the
        next round tries again (payouts reconcile what was in doubt)."""
        try:
            await run()
        except Exception:
            self.on_error()
            log.exception("%s failed", what)

    async def maintain(self) -> list[tuple[BlockRow, BlockStatus]]:
        """Follow pending blocks to maturity or orphanhood, then settle PPS/FPPS shares."""
        if self.node is None:
            return []
        changed = await self.ledger.update_blocks(self.node)
        for block, status in changed:
            log.info("block %s at height %d is %s", block.hash, block.height, status.value)
        await self.ledger.settle()
        self.on_quarantined(await self.ledger.quarantined())
        return changed

    async def pay(self) -> PayoutReport | None:
        """Pay what is due through `[wallet]`: the ledger's exactly-once payouts, as
        `surplus ledger payouts` runs them; a batch a killed leader left in doubt is
        reconciled with the wallet by the next run."""
        wallet = self.config.wallet
        if wallet is None:
            return None
        if self._wallet is None:
            from pool.node.wallet import WalletClient

            self._wallet = WalletClient(wallet.url, flavor=wallet.flavor,
                                        wallet_id=wallet.wallet_id, timeout=wallet.timeout)
        report = await self.ledger.payouts(self._wallet,
                                           resolve=self.config.account_book().payout_addresses)
        for batch, txid in report.sent:
            log.warning("paid batch %d: %d sat to %d accounts in %r", batch.id, batch.total,
                        len(batch.outputs), txid)  # fmt: skip
        for item in report.reconciled:
            log.warning("payout batch %d reconciled (%s): %r", item.batch_id, item.how,
                        item.txid)  # fmt: skip
        self.on_quarantined(len(report.quarantined))
        return report

    async def close(self) -> None:
        if self._wallet is not None:
            await self._wallet.close()
            self._wallet = None
