"""PoolApp: the controller that composes a running pool.

    node (RpcNode with failover, or the embedded devnet)
      -> BlockWatcher (ZMQ / poll / GBT longpoll; a refresh every 30 s)
      -> JobFactory + JobFeed (new tip => one clean job, fanned out to every session at once)
      -> StratumServer (sessions, validator thread, vardiff, limits)
      -> Ledger through LedgerSink (pool mode: a share is answered `true` after its commit)

What the controller itself owns is the glue that spans those parts: start-up in an order
that fails early with a named cause, the first job before the first miner connects, what
happens after a block candidate (submitblock -> immediate tip check so miners move on ->
confirmation through getblockhash(height) -> the ledger), the network difficulty per
height that PPS/FPPS need, periodic block maturity and settlement, and a shutdown that
drains the server (miners get `client.reconnect`) before the ledger closes. With
`[metrics]` and `[stats_api]` in the config it also serves Prometheus /metrics and the
JSON stats API, every hook wired (pool.app_observe).

Long-running work runs in one asyncio.TaskGroup (structured concurrency): the watcher,
the ledger loop and every block follow-up are its children, each guarding its own errors
so one failure never tears the others down; `stop()` lets block follow-ups finish, then
cancels the group.

    async with PoolApp(load("configs/pool-devnet.toml")) as app:
        print(app.stratum_address, app.stats, app.metrics_url, app.stats_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from plumbing.lifecycle import Service, cancel
from plumbing.redact import redact
from pool.app_node import (
    PoolStartupError,
    build_node,
    check_network,
    check_payout_address,
    fetch_template,
    wait_until_ready,
)
from pool.app_observe import PoolObservers
from pool.app_slot import single_slot, slot_config, slot_labels
from pool.app_stats import BlockOutcome, Counters, PoolStats
from pool.bitcoin.target import target_to_difficulty
from pool.config import DevnetSection, PoolConfig
from pool.jobs.factory import JobFactory, TemplateWork
from pool.jobs.job import Job
from pool.ledger.bans import SharedBans
from pool.ledger.ledger import Ledger
from pool.ledger.payouts import PayoutReport
from pool.ledger.records import BlockRow, BlockStatus, FoundBlock
from pool.ledger.remote import LedgerUnavailable
from pool.ledger.sink import LedgerSink
from pool.ledger_duties import LedgerDuties
from pool.metrics.registry import PoolMetrics
from pool.node.base import Node, NodeError
from pool.node.devnet import DevnetNode
from pool.node.rpc import RpcNode, confirm_accepted
from pool.node.watcher import BlockWatcher
from pool.stratum.extranonce import EXTRANONCE1_SIZE
from pool.stratum.identity import account_of
from pool.stratum.jobfeed import JobFeed
from pool.stratum.server import BlockFound, StratumServer
from pool.stratum.slots import ProcessSlot
from pool.stratum.tls import TlsSetupError

__all__ = ["PoolApp", "PoolStartupError", "PoolStats"]

log = logging.getLogger("pool.app")

KEEP_JOBS = 256  # jobs remembered for block rewards (more than any session holds)
KEEP_BLOCKS = 4096  # block outcomes kept for stats and tests
SHARE_ID_WAIT = 10.0  # seconds to wait for the block-solving share's commit
WRITER_WAIT = 120.0  # seconds a found block waits for a restarting ledger writer
CONFIRM_TRIES = 20
BLOCK_DRAIN = 10.0  # seconds stop() gives block follow-ups in flight


class PoolApp(Service):
    """One pool process. Use ``async with PoolApp(config) as app`` (or start/stop).

    `node` may be passed in (the demo shares its devnet chain; tests wrap a node); the
    app then leaves closing it to the caller (with `[metrics]` its calls are timed while
    the app runs)."""

    def __init__(
        self, config: PoolConfig, *, node: Node | None = None, slot: ProcessSlot | None = None
    ) -> None:
        slot = slot if slot is not None else single_slot(config)
        if slot is not None:
            config = slot_config(config, slot)
        self.slot = slot  # which process of which host (pool.app_slot); None: stand-alone
        self.config = config
        self.node: Node | None = node
        self._owns_node = node is None
        self.ledger: Ledger | None = None
        self.sink: LedgerSink | None = None
        self.feed: JobFeed | None = None
        self.server: StratumServer | None = None
        self.watcher: BlockWatcher | None = None
        self.counters = Counters()
        self._observers = PoolObservers(config, None if slot is None else slot_labels(slot))
        self.blocks: deque[BlockOutcome] = deque(maxlen=KEEP_BLOCKS)  # newest last
        self.pool_script = b""
        self._jobs: OrderedDict[str, tuple[Job, TemplateWork]] = OrderedDict()
        self._works_by_height: OrderedDict[int, TemplateWork] = OrderedDict()
        self._network_recorded: tuple[int, int, int] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._group: asyncio.TaskGroup | None = None
        self._group_ready: asyncio.Event | None = None
        self._followups: set[asyncio.Task[Any]] = set()
        self._followed: OrderedDict[str, None] = OrderedDict()  # blocks followed up, by hash
        self._server_started = False
        self._started_at = 0.0
        self._closing = False
        self._frozen = False
        self.leader = False  # this process leads the ledger (pool.ledger.leader)
        self._shared_bans: SharedBans | None = None
        self._ledger_duties: LedgerDuties | None = None  # the leader's rounds

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bring the pool up; PoolStartupError (naming the config key) when it cannot."""
        self._started_at = time.monotonic()
        try:
            await self._start()
        except BaseException:
            await self.stop(reconnect=False)
            raise

    async def _start(self) -> None:
        config = self.config
        deadline = time.monotonic() + config.startup_timeout
        observers = self._observers
        if self.node is None:
            self.node = build_node(config, on_call=observers.on_call)
        node = self.node
        if not (self._owns_node and isinstance(node, RpcNode)):  # no on_call of ours
            observers.time_node(node)
        height = await wait_until_ready(node, config.startup_timeout)
        await check_network(node, config.network)
        self.pool_script = await check_payout_address(
            node, "payout_address", config.payout_address
        )
        if config.ledger is not None and config.ledger.fee_account:
            await check_payout_address(node, "ledger.fee_account", config.ledger.fee_account)
        stratum = config.stratum_config
        factory = JobFactory(
            self.pool_script,
            tag=config.tag_bytes,
            extranonce1_size=EXTRANONCE1_SIZE,
            extranonce2_size=stratum.extranonce2_size,
        )
        self.feed = JobFeed(factory)
        if config.ledger is not None:
            try:
                self.ledger = await Ledger.open(
                    config.ledger, on_commit=observers.on_commit,
                    writer_socket=None if self.slot is None else self.slot.ledger_socket,
                    connect_timeout=config.startup_timeout,
                )
            except Exception as exc:  # the database is down, or refuses us: say so plainly
                raise PoolStartupError(
                    f"ledger: cannot open the {config.ledger.backend} ledger: "
                    f"{type(exc).__name__}: {redact(str(exc))}"
                ) from None
            self.sink = LedgerSink(self.ledger)
            observers.quarantined(await self.ledger.quarantined())  # payouts run elsewhere
            await self._lead()
        self.server = StratumServer(
            stratum, self.feed, node, observers.sink(self.sink),
            account_problem=config.account_book().problem if config.mode == "pool" else None,
            reuse_port=self.slot is not None and self.slot.count > 1,
        )
        observers.attach(self.server)
        self._share_bans()
        self.server.block_listeners.append(self._on_block_found)
        self.watcher = self._make_watcher(node)
        # The watcher learns the tip first (without announcing it), then the first job is
        # built: a tip that moves in between is a change the watcher reports later.
        await self.watcher.check("start")
        await self.publish_template(clean=True, deadline=deadline)
        self._group_ready = asyncio.Event()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="pool-supervisor"
        )
        await self._group_ready.wait()
        await observers.start(self.server, confirmed=lambda: self.counters.blocks_confirmed,
                              facts=self)
        try:
            await self.server.start()
        except TlsSetupError as exc:
            raise PoolStartupError(str(exc)) from None
        except OSError as exc:
            if stratum.tls_listen is None:
                raise
            raise PoolStartupError(f"stratum.port or stratum.tls_listen: cannot listen: "
                                   f"{exc.strerror or exc}") from None  # fmt: skip
        self._server_started = True
        log.info(
            "pool up: %s mode on %s, node height %d, stratum %s:%d",
            config.mode, config.network, height, *self.server.address,
        )
        # Everything built so far lives as long as the pool: keep it out of every
        # collection, so a full GC pass never walks it while thousands of miners wait.
        gc.collect()
        gc.freeze()
        self._frozen = True

    def _share_bans(self) -> None:
        """In a cluster, bans reach every process: on PostgreSQL through its `bans` table
        and LISTEN/NOTIFY (every host; pool.ledger.bans), on SQLite through the ledger
        writer, which stores and pushes them (pool.ledger.remote)."""
        ledger, server = self.config.ledger, self.server
        if (self.slot is None or ledger is None or server is None
                or not self.config.stratum.ban.enabled):  # fmt: skip
            return
        bans = server.bans
        label = f"node {self.slot.node_id} {self.slot.label}"

        def on_ban(key: str, until: float) -> None:
            if not bans.is_banned(key):  # not our own ban coming back
                log.warning("refusing %s for %.0f s: banned by another process of the "
                            "cluster", key, until - time.time())  # fmt: skip
            bans.extend(key, until - time.time())

        remote = None if self.ledger is None else self.ledger.remote
        if remote is not None:
            remote.follow_bans(on_ban)
            server.ban_listener = partial(remote.publish_ban, node=label)
            return
        if ledger.backend != "postgres":
            return
        self._shared_bans = SharedBans(ledger.dsn, on_ban, label, asyncio.get_running_loop())
        server.ban_listener = self._shared_bans.publish
        self._shared_bans.start()

    def _make_watcher(self, node: Node) -> BlockWatcher:
        section = self.config.node
        if isinstance(section, DevnetSection):
            return BlockWatcher(
                node, self._on_new_block, self._on_refresh,
                poll_interval=section.poll_interval,
                refresh_interval=section.refresh_interval,
                longpoll=section.longpoll,
                announce_initial=False,
            )
        return section.watcher(
            node, self._on_new_block, self._on_refresh, announce_initial=False
        )

    async def stop(self, reconnect: bool = True) -> None:
        """Drain the server (miners get client.reconnect), let block follow-ups finish,
        stop the background tasks, commit and close the ledger, release the node."""
        if self._closing:
            return
        self._closing = True
        if self.server is not None:
            if self._server_started:
                await self.server.close(reconnect=reconnect)
            else:
                self.server.validator.close()  # its hashing thread exists from the start
        pending = [task for task in self._followups if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=BLOCK_DRAIN)
        await cancel(self._supervisor)
        if self._shared_bans is not None:
            await asyncio.to_thread(self._shared_bans.close)
        if self.ledger is not None:
            await self.ledger.close()
        if self._ledger_duties is not None:
            await self._ledger_duties.close()
        await self._observers.close()
        if self._owns_node and isinstance(self.node, RpcNode):
            await self.node.close()
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        log.info("pool stopped")

    async def blocks_settled(self, timeout: float = 10.0) -> bool:
        """Wait until every block found so far is followed up (confirmed or not, and in
        the ledger in pool mode); False on timeout. Tests and the demo call this before
        reading `blocks` or the ledger."""
        deadline = time.monotonic() + timeout
        while self._followups:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(list(self._followups), timeout=remaining)
        return True

    async def wait_closed(self) -> None:
        """Return when the background tasks end (only through stop(), or a bug)."""
        if self._supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    # ------------------------------------------------------------------ what callers read

    @property
    def stratum_address(self) -> tuple[str, int]:
        if self.server is None:
            raise RuntimeError("the pool is not started")
        return self.server.address

    @property
    def stratum_port(self) -> int:
        return self.stratum_address[1]

    @property
    def metrics(self) -> PoolMetrics | None:
        """The pool's Prometheus registry and worker book; None without `[metrics]` and
        `[stats_api]`."""
        return self._observers.metrics

    @property
    def metrics_url(self) -> str | None:
        """http://host:port/metrics while the pool serves it (`[metrics]`), else None."""
        return self._observers.metrics_url

    @property
    def stats_url(self) -> str | None:
        """The stats API's base URL while it is served (`[stats_api]`), else None."""
        return self._observers.stats_url

    @property
    def current_job(self) -> Job | None:
        return None if self.feed is None else self.feed.current

    @property
    def stats(self) -> PoolStats:
        c = self.counters
        server = self.server
        job = self.current_job
        s = server.stats if server is not None else None
        return PoolStats(
            mode=self.config.mode,
            network=self.config.network,
            stratum_address=server.address if server is not None and self._server_started
            else ("", 0),
            height=None if job is None else job.height,
            tip=None if self.watcher is None else self.watcher.tip,
            sessions=0 if server is None else len(server.sessions),
            accepted=0 if s is None else s.accepted,
            credited=0.0 if s is None else s.credited,
            rejected={} if s is None else dict(s.rejected),
            templates=c.templates,
            clean_jobs=c.clean_jobs,
            refreshes=c.refreshes,
            template_errors=c.template_errors,
            blocks_submitted=c.blocks_submitted,
            blocks_rejected=c.blocks_rejected,
            blocks_confirmed=c.blocks_confirmed,
            blocks_unconfirmed=c.blocks_unconfirmed,
            blocks_recorded=c.blocks_recorded,
            ledger_errors=c.ledger_errors,
            restarts=c.restarts,
            last_fanout_ms=0.0 if s is None else s.last_fanout_ms,
            uptime=time.monotonic() - self._started_at if self._started_at else 0.0,
        )

    # ------------------------------------------------------------------ background tasks

    async def _supervise(self) -> None:
        assert self.watcher is not None and self._group_ready is not None
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(self._keep("watcher", self.watcher.run), name="pool-watcher")
            if self.ledger is not None:
                group.create_task(self._keep("ledger", self._ledger_loop), name="pool-ledger")
            self._group_ready.set()

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run a loop; restart it with backoff when it fails (it should not)."""
        delay = 0.5
        while True:
            try:
                await run()
                return
            except Exception:
                self.counters.restarts += 1
                log.exception("%s loop failed; restarting in %.1f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """A follow-up task in the group (or on the loop while shutting down)."""
        if self._group is not None and not self._closing:
            task = self._group.create_task(coro, name=name)
        else:
            task = asyncio.get_running_loop().create_task(coro, name=name)
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)

    def _duties(self) -> LedgerDuties:
        """The leader's rounds (pool.ledger_duties), made once the ledger is open."""
        assert self.ledger is not None
        if self._ledger_duties is None:

            def on_error() -> None:
                self.counters.ledger_errors += 1

            self._ledger_duties = LedgerDuties(self.config, self.ledger, self.node,
                                               on_quarantined=self._observers.quarantined,
                                               on_error=on_error)  # fmt: skip
        return self._ledger_duties

    async def _ledger_loop(self) -> None:
        """Keep or take the ledger's leadership (pool.ledger.leader) every few seconds;
        while leading, follow blocks, settle and pay (pool.ledger_duties)."""
        await self._duties().run(self._lead)

    async def pay(self) -> PayoutReport | None:
        """Pay what is due through `[wallet]` now (the leader does it every
        `payout_interval`); see LedgerDuties.pay."""
        if self.ledger is None:
            return None
        return await self._duties().pay()

    async def _lead(self) -> bool:
        assert self.ledger is not None
        try:
            leading = await self.ledger.lead()
        except Exception:
            log.exception("cannot tell who leads the ledger")
            leading = False
        if leading != self.leader and self.config.ledger is not None and (
            self.config.ledger.backend == "postgres"
        ):
            where = "" if self.slot is None else f" (node {self.slot.node_id}, {self.slot.label})"
            if leading:
                log.warning("this process now leads the ledger%s: it follows blocks and "
                            "settles for the cluster", where)  # fmt: skip
            else:
                log.warning("this process no longer leads the ledger%s", where)
        self.leader = leading
        self._observers.leader(leading)
        return leading

    async def maintain_ledger(self) -> list[tuple[BlockRow, BlockStatus]]:
        """Follow pending blocks to maturity or orphanhood, then settle PPS/FPPS shares.
        Runs every `ledger_interval` seconds; public so tests and tools can run it now."""
        if self.ledger is None or self.node is None:
            return []
        return await self._duties().maintain()

    # ------------------------------------------------------------------ templates and jobs

    async def _on_new_block(self, besthash: str) -> None:
        self._observers.block_detected()  # the new-block fan-out is timed from here
        section = self.config.node
        if isinstance(self.node, DevnetNode) and isinstance(section, DevnetSection) and (
            section.mempool_txs
        ):
            self.node.fill_mempool(section.mempool_txs)  # a template from now on has them
            fresh = None
        else:  # a longpoll that announced this tip brought its template: no second trip
            fresh = self.watcher.template_for(besthash) if self.watcher is not None else None
        await self.publish_template(clean=True, expect_prev=besthash, template=fresh)

    async def _on_refresh(self) -> None:
        self.counters.refreshes += 1
        await self.publish_template(clean=False)

    def _template_error(self, exc: Exception) -> None:
        self.counters.template_errors += 1

    async def publish_template(
        self,
        *,
        clean: bool,
        expect_prev: str | None = None,
        deadline: float | None = None,
        template: dict[str, Any] | None = None,
    ) -> Job:
        """Fetch a template (unless one fresh from the node is given) and publish its job
        to every session. `clean` for a new tip; a refresh that finds a new prevhash is
        made clean too."""
        assert self.node is not None and self.feed is not None
        if template is None:
            template = await fetch_template(
                self.node, deadline=deadline, on_error=self._template_error
            )
        if expect_prev is not None:
            # The node may still hand out the previous template for a moment.
            for _ in range(10):
                if template.get("previousblockhash") == expect_prev:
                    break
                await asyncio.sleep(0.05)
                template = await fetch_template(self.node, on_error=self._template_error)
        work = TemplateWork.from_gbt(template)
        previous = self.feed.work
        if previous is not None and previous.prevhash != work.prevhash:
            clean = True
        job = self.feed.publish_template(work, clean_jobs=clean)
        self._remember(job, work)
        self.counters.templates += 1
        if clean:
            self.counters.clean_jobs += 1
        if self.ledger is not None:
            await self._record_network(work)
        return job

    def _remember(self, job: Job, work: TemplateWork) -> None:
        self._jobs[job.job_id] = (job, work)
        while len(self._jobs) > KEEP_JOBS:
            self._jobs.popitem(last=False)
        self._works_by_height[work.height] = work
        self._works_by_height.move_to_end(work.height)
        while len(self._works_by_height) > 16:
            self._works_by_height.popitem(last=False)

    async def _record_network(self, work: TemplateWork) -> None:
        """The network difficulty and block value per height, which PPS/FPPS shares are
        valued at (the latest template of a height wins)."""
        assert self.ledger is not None
        key = (work.height, work.coinbase_value, work.fees)
        if key == self._network_recorded:
            return
        try:
            await self.ledger.record_network(
                work.height,
                target_to_difficulty(work.network_target),
                work.coinbase_value - work.fees,
                work.fees,
            )
            self._network_recorded = key
        except LedgerUnavailable as exc:  # the cluster's writer restarts: the next template
            self.counters.ledger_errors += 1
            log.warning("could not record the network difficulty of height %d: %r",
                        work.height, str(exc))  # fmt: skip
        except Exception:
            self.counters.ledger_errors += 1
            log.exception("could not record the network difficulty of height %d", work.height)

    # ------------------------------------------------------------------ found blocks

    def _on_block_found(self, found: BlockFound) -> None:
        """Called by the server once submitblock has answered (accepted or not)."""
        outcome = BlockOutcome(
            height=found.height, hash=found.block_hash, worker=found.worker,
            job_id=found.job_id, reason=found.result, submitted_at=found.submitted_at,
        )
        self.blocks.append(outcome)
        self.counters.blocks_submitted += 1
        if found.result is not None:
            self.counters.blocks_rejected += 1
            self._followed[found.block_hash] = None
            return
        self._spawn(self._follow_block(outcome), f"block-{found.height}")

    async def _follow_block(self, outcome: BlockOutcome) -> None:
        try:
            if self.watcher is not None:  # miners move to the next height right away
                with contextlib.suppress(NodeError):
                    await self.watcher.check("submitted", hint=outcome.hash)
            if not await self._confirm(outcome):
                self.counters.blocks_unconfirmed += 1
                log.warning(
                    "block %s at height %d was accepted but is not the node's block at that "
                    "height (a competing block won)", outcome.hash, outcome.height,
                )
                return
            outcome.confirmed = True
            self.counters.blocks_confirmed += 1
            job_work = self._jobs.get(outcome.job_id)
            work = job_work[1] if job_work else self._works_by_height.get(outcome.height)
            if job_work is not None:
                outcome.reward = job_work[0].coinbase_value
            elif work is not None:
                outcome.reward = work.coinbase_value
            log.info("block %s at height %d confirmed on the node", outcome.hash, outcome.height)
            if self.ledger is not None:
                parent = work.prevhash[::-1].hex() if work is not None else None
                await self._record_block(outcome, work, parent)
        except Exception:
            log.exception("following block %s failed", outcome.hash)
        finally:
            outcome.followed = True
            self._followed[outcome.hash] = None
            while len(self._followed) > KEEP_JOBS:
                self._followed.popitem(last=False)

    async def _confirm(self, outcome: BlockOutcome) -> bool:
        assert self.node is not None
        delay = 0.05
        for _ in range(CONFIRM_TRIES):
            try:
                if await confirm_accepted(self.node, outcome.hash, outcome.height):
                    return True
                if delay >= 0.4:
                    return False  # the node answers, and says another block is there
            except NodeError as exc:
                log.warning("cannot confirm block %s yet: %s", outcome.hash, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return False

    async def _record_block(
        self, outcome: BlockOutcome, work: TemplateWork | None, parent: str | None
    ) -> None:
        assert self.ledger is not None and self.sink is not None
        if outcome.reward is None or work is None:
            self.counters.ledger_errors += 1
            log.error("block %s: its template is forgotten; cannot credit it", outcome.hash)
            return
        share_id = await self._block_share_id(outcome.hash)
        if share_id is None:
            self.counters.ledger_errors += 1
            log.error("block %s: the share that solved it is not in the ledger", outcome.hash)
            return
        if parent is not None:
            await self._parent_followed(parent)
        found = FoundBlock(
            height=outcome.height,
            hash=outcome.hash,
            reward=outcome.reward,
            share_id=share_id,
            account=account_of(outcome.worker),
            worker=outcome.worker,
            network_difficulty=target_to_difficulty(work.network_target),
            fees=work.fees,
        )
        delay = 0.1
        attempt = 0
        writer_deadline = time.monotonic() + WRITER_WAIT
        while True:
            try:
                await self.ledger.record_block(found)
                outcome.recorded = True
                self.counters.blocks_recorded += 1
                return
            except LedgerUnavailable as exc:  # a SQLite cluster's writer restarts: wait
                if time.monotonic() > writer_deadline:
                    raise
                log.warning("recording block %s waits for the ledger writer: %r",
                            outcome.hash, str(exc))  # fmt: skip
            except Exception:
                attempt += 1
                if attempt == 5:
                    raise
                log.exception("recording block %s failed; retrying", outcome.hash)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _parent_followed(self, parent: str) -> None:
        """Blocks go into the ledger in chain order, which is the order of the shares that
        solved them: a PROP round ends at the previous recorded block, so recording a
        block before its parent would count the parent's shares twice. The node's answers
        can arrive out of order (submitblock calls run in parallel), so when the parent
        is also the pool's (its solving share is in the ledger), wait for its follow-up.
        The parent's share was committed before this block's (its job came first)."""
        assert self.sink is not None
        if self.sink.block_share_id(parent) is None:
            return  # found elsewhere, or long ago
        deadline = time.monotonic() + SHARE_ID_WAIT + BLOCK_DRAIN
        while parent not in self._followed and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def _block_share_id(self, block_hash: str) -> int | None:
        """The ledger id of the block's share: its commit may still be in flight when
        submitblock answers (both start from the same validated batch)."""
        assert self.sink is not None
        deadline = time.monotonic() + SHARE_ID_WAIT
        while True:
            share_id = self.sink.block_share_id(block_hash)
            if share_id is not None or time.monotonic() > deadline:
                return share_id
            await asyncio.sleep(0.005)
