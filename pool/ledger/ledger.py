"""The ledger as the pool uses it: an asyncio shell over a few threads.

- the share writers (a `GroupCommitter`; one connection each) turn many awaiting
  `record_share` calls into one durable transaction per batch, pipelined: what arrives
  while a commit runs is the next commit (at 20,000 shares/s, one every ~1.7 ms);
- the accounting thread (its own connection) runs everything else one call at a time,
  so a long PPLNS window read never blocks the event loop or share commits;
- with SQLite, a checkpoint thread keeps the WAL short outside the share commits.

In a SQLite cluster (`Ledger.open(..., writer_socket=...)`) a pool process owns no writer:
its writes (share batches, network values, found blocks) go to the cluster's ledger
writer process over pool.ledger.remote, which answers once they are committed, and the
process reads the file itself (WAL lets readers run beside the one writer). It never
leads: the writer process follows blocks and pays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pool.ledger.config import LedgerConfig
from pool.ledger.factory import open_backend
from pool.ledger.group_commit import GroupCommitter
from pool.ledger.leader import Leadership
from pool.ledger.payouts import PayoutReport, Resolve, run_payouts
from pool.ledger.records import BalanceRow, BlockRow, BlockStatus, FoundBlock, Share
from pool.ledger.remote import RemoteCommitter, WriterClient
from pool.ledger.sqlite_backend import Checkpointer
from pool.ledger.store import LedgerStore
from pool.ledger.wallet import as_wallet

T = TypeVar("T")


class ChainView(Protocol):
    """The two node calls block maturity needs (the pool's Node satisfies it)."""

    async def getblockcount(self) -> int: ...

    async def getblockhash(self, height: int) -> str: ...


@dataclass(eq=False)
class Ledger:
    """The store (accounting, one call at a time on `executor`), the share writers behind
    `committer` and, with SQLite, the WAL `checkpointer`; built by `open`. With `remote`
    (a SQLite cluster's pool process) the committer is the writer process's and the
    store only reads."""

    config: LedgerConfig
    store: LedgerStore
    writers: list[LedgerStore]
    committer: GroupCommitter | RemoteCommitter
    checkpointer: Checkpointer | None = None
    remote: WriterClient | None = None
    executor: ThreadPoolExecutor = field(init=False, default_factory=lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="ledger-accounting"))  # fmt: skip
    leadership: Leadership = field(init=False)

    def __post_init__(self) -> None:
        self.leadership = Leadership(self.config)

    @classmethod
    async def open(
        cls, config: LedgerConfig, on_commit: Callable[[int, float], None] | None = None,
        writer_socket: Path | None = None, connect_timeout: float = 30.0,
    ) -> Ledger:
        """Connect, apply migrations, start the share writers. `on_commit`
        (rows, seconds) is called on a writer thread after each group commit.
        `writer_socket`: write through the cluster's ledger writer there instead (its
        commits are the writer's to report)."""
        if writer_socket is not None:
            return await cls._open_remote(config, writer_socket, connect_timeout)
        count = config.pg_writer_connections if config.backend == "postgres" else 1

        def build() -> tuple[LedgerStore, list[LedgerStore]]:
            store = LedgerStore(open_backend(config, migrate=True), config)
            writers: list[LedgerStore] = []
            try:
                for _ in range(count):
                    writers.append(LedgerStore(
                        open_backend(config, migrate=False, share_writer=True), config
                    ))
            except BaseException:
                for opened in (store, *writers):
                    opened.close()
                raise
            return store, writers

        store, writers = await asyncio.to_thread(build)
        committer = GroupCommitter(
            [writer.insert_shares for writer in writers],
            delay=config.commit_delay_ms / 1000,
            max_batch=config.max_batch,
            on_commit=on_commit,
            row_error=writers[0].backend.row_error,
        )
        committer.start()
        checkpointer = None
        if config.backend == "sqlite":
            checkpointer = Checkpointer(config.path)
            checkpointer.start()
        return cls(config, store, writers, committer, checkpointer)

    @classmethod
    async def _open_remote(
        cls, config: LedgerConfig, path: Path, timeout: float,
    ) -> Ledger:
        """A reader of the file and a client of the writer (which migrated it first). No
        `on_commit` here: a round trip to the writer is not a commit, and the writer
        exports its own commits (pool.metrics.writer)."""
        client = WriterClient(path)
        await client.start(timeout)
        try:
            store = await asyncio.to_thread(
                lambda: LedgerStore(open_backend(config, migrate=False), config)
            )
        except BaseException:
            await client.close()
            raise
        return cls(config, store, [], RemoteCommitter(client), remote=client)

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- shares: the hot path ---------------------------------------------------------------

    def submit_share(self, share: Share) -> asyncio.Future[int]:
        """Queue one share; the future resolves to its id once it is committed."""
        return self.committer.submit((share,), single=True)

    async def record_share(self, share: Share) -> int:
        """Store one share durably; returns its id only after the commit."""
        return await self.committer.submit((share,), single=True)

    async def record_shares(self, shares: Sequence[Share]) -> list[int]:
        """Store shares durably in one group commit; their ids, in order."""
        if not shares:
            return []
        return await self.committer.submit(tuple(shares))

    @property
    def commits(self) -> int:
        return self.committer.commits

    # -- accounting (one call at a time on the accounting thread) ---------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def record_network(
        self, height: int, network_difficulty: Fraction, subsidy: int, fees: int
    ) -> None:
        if self.remote is not None:
            return await self.remote.record_network(height, network_difficulty, subsidy, fees)
        await self._run(self.store.record_network, height, network_difficulty, subsidy, fees)

    async def record_block(self, found: FoundBlock) -> BlockRow:
        if self.remote is not None:
            return await self.remote.record_block(found)
        return await self._run(self.store.record_block, found)

    async def settle(self) -> int | None:
        return await self._run(self.store.settle)

    async def update_blocks(self, node: ChainView) -> list[tuple[BlockRow, BlockStatus]]:
        """Follow every pending block with what the node reports now; returns the blocks
        that became confirmed or orphaned."""
        pending = await self._run(self.store.blocks, BlockStatus.PENDING)
        if not pending:
            return []
        tip = await node.getblockcount()
        changed: list[tuple[BlockRow, BlockStatus]] = []
        for block in pending:
            node_hash = await node.getblockhash(block.height) if block.height <= tip else None
            status = await self._run(self.store.apply_node_view, block, node_hash, tip)
            if status is not BlockStatus.PENDING:
                changed.append((block, status))
        return changed

    async def lead(self) -> bool:
        """Whether this process leads the ledger now (pool.ledger.leader): keeps or takes
        the leader lock; only the leader follows blocks and settles."""
        if self.config.backend == "sqlite":
            return self.remote is None  # the process that owns the file
        return await self._run(self.leadership.check)

    async def balances(self) -> list[BalanceRow]:
        return await self._run(self.store.balances)

    async def blocks(self) -> list[BlockRow]:
        return await self._run(self.store.blocks)

    async def payouts(
        self, wallet: Any | None, dry_run: bool = False, resolve: Resolve | None = None
    ) -> PayoutReport:
        """Settle PPS, reconcile, pay what is due (see payouts.run_payouts). `wallet`: a
        synchronous `Wallet` or the node package's asyncio WalletClient; `resolve`: where
        each account is paid (pool.accounts.AccountBook.payout_addresses)."""
        sync_wallet = None if wallet is None else as_wallet(wallet, asyncio.get_running_loop())

        def pay() -> PayoutReport:
            if not dry_run:
                self.store.settle()
            return run_payouts(
                self.store, sync_wallet, self.config.min_payout_sat, dry_run, resolve
            )

        return await self._run(pay)

    async def quarantined(self) -> int:
        """How many accounts payouts skip (shown as a metric by the pool)."""
        return len(await self._run(self.store.quarantined))

    async def record_ban(self, key: str, until: float, reason: str, node: str) -> None:
        """A ban of a SQLite cluster, kept for the processes that (re)connect later."""
        await self._run(self.store.record_ban, key, until, reason, node)

    async def running_bans(self, limit: int) -> list[tuple[str, float]]:
        return await self._run(self.store.running_bans, time.time(), limit)

    async def close(self) -> None:
        """Commit what is queued, then close both connections."""
        await self.committer.close()
        for writer in self.writers:
            await asyncio.to_thread(writer.close)
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
        await self._run(self.leadership.close)
        await self._run(self.store.close)
        self.executor.shutdown(wait=True)
