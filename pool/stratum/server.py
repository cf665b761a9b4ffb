"""The Stratum V1 server: listener, session registry, fan-out, verdicts and limits.

Composition is left to the caller (pool.app): it hands in a JobSource (the current Job
and a way to hear of new ones), a Node for submitblock and payout addresses, and a
ShareSink for accepted shares. The server owns the extranonce1 space, the duplicate
filter, the validator thread, the ban list and one sweep task for every time-based
limit (so sessions need no timers of their own).

Fan-out: a new job is encoded once (`mining.notify` bytes shared by every session; in
solo mode once per payout script) and written to every working session in one pass of
the event loop, with the session's `set_difficulty` prepended only when it changed.

Limits (issue 12): connections per address with trusted networks exempt, a connection
budget under the fd limit, deadlines for subscribe, for authorize after subscribe and
for a line once begun, a per-address ban score for bad requests; refusals and closures
are logged through a throttle. Counters the stats read (connections by state, worker
names, the difficulty distribution) are kept here as sessions change, so nothing that
reports on the pool walks every session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pool.bitcoin.target import DIFF1_TARGET, difficulty_to_target
from pool.jobs.job import Job
from pool.node.base import Node
from pool.protocol import ErrorCode
from pool.shares.accepted import NOT_RECORDED, AcceptedShare, ShareSink, failed_rows
from pool.shares.checks import DuplicateFilter, Verdict, judge
from pool.shares.validator import PendingShare, ShareValidator, target_le
from pool.stratum.bans import CLOSING_STRIKES, BanBook
from pool.stratum.codec import (
    encode_error,
    encode_notify,
    encode_reconnect,
    encode_set_difficulty,
    encode_show_message,
)
from pool.stratum.config import StratumConfig
from pool.stratum.counters import ServerStats
from pool.stratum.extranonce import ExtranonceAllocator
from pool.stratum.fanout import Batch, FanoutWriter
from pool.stratum.identity import AccountProblem, account_of
from pool.stratum.jobfeed import JobSource
from pool.stratum.limits import (
    LogThrottle,
    connection_budget,
    parse_networks,
    raise_fd_limit,
)
from pool.stratum.proxied import ProxiedSession
from pool.stratum.session import JobRecord, StratumSession
from pool.stratum.tls import TlsSession, server_context

log = logging.getLogger(__name__)

KEEP_BLOCKS = 4096  # block candidates remembered for the stats API and metrics


def count_down(counts: dict[Any, int], key: Any) -> bool:
    """One fewer of `key`; its entry goes when none are left (then True)."""
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
        return False
    counts.pop(key, None)
    return True


@dataclass(frozen=True)
class BlockFound:
    height: int
    block_hash: str
    worker: str
    job_id: str
    result: str | None  # None = the node accepted it, else its reject reason
    submitted_at: float


class StratumServer:
    def __init__(
        self,
        config: StratumConfig,
        jobs: JobSource,
        node: Node | None = None,
        sink: ShareSink | None = None,
        *,
        clock: Callable[[], float] = time.time,
        account_problem: AccountProblem | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        # several processes share the port (SO_REUSEPORT; pool.cluster): the kernel
        # spreads new connections over their listening sockets
        self.reuse_port = reuse_port
        # pool mode: why an account may not mine here (pool.accounts.AccountBook.problem)
        self.account_problem = account_problem
        self.jobs = jobs
        self.node = node
        self.sink = sink
        self.clock = clock
        self.stats = ServerStats()
        self.sessions: set[StratumSession] = set()
        self.extranonces = ExtranonceAllocator(config.prefix_bytes)
        self.duplicates = DuplicateFilter(max_jobs=max(64, 4 * config.max_jobs_per_session))
        self.validator = ShareValidator(self._on_block, self._on_batch)
        self._fanout = FanoutWriter(config.fanout_threads)
        self.blocks: deque[BlockFound] = deque(maxlen=KEEP_BLOCKS)
        self.block_listeners: list[Callable[[BlockFound], None]] = []
        # (worker, Stratum error code) of each rejected share of an authorized worker
        self.reject_listener: Callable[[str, int], None] | None = None
        # (address key, seconds, reason) of each ban: shared with the cluster (pool.app)
        self.ban_listener: Callable[[str, float, str], None] | None = None
        self.epoch = 0
        self._prevhash: bytes | None = None
        self._working: dict[StratumSession, None] = {}
        # deadlines, each dict in deadline order (insertion order, one timeout per dict)
        self._unsubscribed: dict[StratumSession, float] = {}
        self._unauthorized: dict[StratumSession, float] = {}
        self._partial: dict[StratumSession, float] = {}
        ban = config.ban
        self.bans = BanBook(ban.max_invalid, ban.window, ban.ban_seconds)
        self.trusted_networks = parse_networks(config.trusted_networks)
        self.max_connections = config.max_connections  # lowered to the fd budget at start
        self._per_address: dict[str, int] = {}
        self.refusals = LogThrottle(log, "refused connections")
        self.closures = LogThrottle(log, "closed connections", level=logging.INFO)
        # kept as sessions change, so the metrics and the stats API never walk them all
        self.subscribed_count = 0
        self.authorized_count = 0
        self.authorized_names = 0  # worker names summed over open connections
        # worker name -> open connections it is authorized on, and the latest of them
        # (flat dicts: nothing per worker for the garbage collector to walk)
        self.worker_connections: dict[str, int] = {}
        self.worker_session: dict[str, StratumSession] = {}
        # account -> its worker names authorized on open connections (the stats API's
        # account pages read one account without walking every worker)
        self.account_workers: dict[str, dict[str, None]] = {}
        self.difficulties: dict[float, int] = {}  # working connections by difficulty
        self._records: dict[tuple[str, float], JobRecord] = {}
        self._diff_messages: dict[float, bytes] = {}
        self._scripts: dict[str, bytes] = {}
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self.tls_address: tuple[str, int] | None = None  # where the TLS listener is bound
        self._sweeper: asyncio.Task | None = None
        self._unsubscribe_jobs: Callable[[], None] | None = None
        self._draining = False
        self._answers_pending = 0  # accepted shares waiting for the sink's commit
        self._address: tuple[str, int] | None = None

    # ------------------------------------------------------------ lifecycle

    def _check_job(self, job: Job) -> None:
        """The coinbase's extranonce room must match what the server announces."""
        if job.extranonce2_size != self.config.extranonce2_size or job.extranonce1_size != 4:
            raise ValueError(
                f"job {job.job_id} has room for extranonce1/2 of {job.extranonce1_size}/"
                f"{job.extranonce2_size} bytes but the server hands out 4/"
                f"{self.config.extranonce2_size}: give the JobFactory and the stratum "
                "config the same extranonce2_size"
            )

    async def start(self) -> tuple[str, int]:
        """Listen; returns the bound (host, port) (port 0 in the config picks one)."""
        if self.jobs.current is not None:
            self._check_job(self.jobs.current)
        await self.validator.warm_up()
        before, fd_limit = raise_fd_limit()
        self.max_connections = connection_budget(self.config.max_connections, fd_limit)
        if fd_limit != before:
            log.info("file descriptor limit raised from %d to %d", before, fd_limit)
        if self.max_connections < self.config.max_connections:
            log.info("the fd limit (%d) allows %d connections, not max_connections = %d: "
                        "raise LimitNOFILE", fd_limit, self.max_connections,
                        self.config.max_connections)
        loop = asyncio.get_running_loop()
        config = self.config
        tls_context = None  # loaded before anything listens: a bad file stops the start
        if config.tls_cert is not None and config.tls_key is not None and config.tls_listen:
            tls_context = server_context(config.tls_cert, config.tls_key)
        factory: Callable[[], StratumSession] = lambda: StratumSession(self)  # noqa: E731
        if self.config.proxy_protocol:
            proxies = parse_networks(self.config.proxy_networks)
            factory = lambda: ProxiedSession(self, proxies)  # noqa: E731
        self._server = await loop.create_server(
            factory,
            self.config.host,
            self.config.port,
            backlog=self.config.backlog,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
        )
        self._unsubscribe_jobs = self.jobs.subscribe(self.on_job)
        if self.jobs.current is not None:
            self._advance_epoch(self.jobs.current)
        self._sweeper = loop.create_task(self._sweep())
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        if tls_context is not None:
            try:
                await self._start_tls(loop, tls_context)
            except BaseException:
                self._server.close()
                raise
        log.info("stratum listening on %s:%d (%s mode; at most %d connections, %d per "
                 "address, %d trusted networks)", host, port, self.config.mode,
                 self.max_connections, self.config.max_connections_per_ip,
                 len(self.trusted_networks))
        return host, port

    async def _start_tls(self, loop: asyncio.AbstractEventLoop, context: ssl.SSLContext) -> None:
        """The Stratum over TLS listener (pool.stratum.tls)."""
        config = self.config
        assert config.tls_address is not None
        tls_host, tls_port = config.tls_address
        self._tls_server = await loop.create_server(
            lambda: TlsSession(self), tls_host, tls_port, ssl=context,
            backlog=config.backlog, reuse_address=True, reuse_port=self.reuse_port or None,
            ssl_handshake_timeout=min(config.subscribe_timeout, 60.0),
        )
        self.tls_address = tuple(self._tls_server.sockets[0].getsockname()[:2])
        log.info("stratum over TLS listening on %s:%d", *self.tls_address)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); still known after close (to restart on it)."""
        if self._address is None:
            raise RuntimeError("the server is not started")
        return self._address

    async def close(
        self, reconnect: bool = True, host: str | None = None, port: int | None = None
    ) -> None:
        """Drain, in this order: stop accepting and stop reading from every miner; answer
        every share already read (hashed, committed through the sink, answered); tell
        every miner to reconnect (to `host:port`, or to the same place) and end our side
        of the stream; give the miners `drain_timeout` to close; close the rest."""
        if self._draining:
            return
        self._draining = True
        if self._server is not None:
            self._server.close()
        if self._tls_server is not None:
            self._tls_server.close()
        if self._unsubscribe_jobs is not None:
            self._unsubscribe_jobs()
        if self._sweeper is not None:
            self._sweeper.cancel()
        sessions = list(self.sessions)
        for session in sessions:
            session.stop_reading()
        in_flight = self.validator.queued + self.validator.in_flight + self._answers_pending
        log.info("stratum draining: stopped reading from %d connections; answering %d "
                 "shares in flight", len(sessions), in_flight)
        answered_before = self.stats.accepted + sum(self.stats.rejected.values())
        deadline = time.monotonic() + self.config.answer_timeout
        while time.monotonic() < deadline:
            await self.validator.drain()
            if not self._tasks:
                if self.validator.idle:
                    break
                continue
            await asyncio.wait(list(self._tasks), timeout=deadline - time.monotonic())
        unanswered = self.validator.queued + self.validator.in_flight + self._answers_pending
        answered = self.stats.accepted + sum(self.stats.rejected.values()) - answered_before
        if unanswered:
            log.warning("stratum draining: %d shares still unanswered after %g s",
                        unanswered, self.config.answer_timeout)
        told = 0
        message = encode_reconnect(host, port, self.config.reconnect_wait) if reconnect else b""
        for session in list(self.sessions):
            if not session.closed:
                session.say_goodbye(message)
                told += bool(message)
        deadline = time.monotonic() + self.config.drain_timeout
        while self.sessions and time.monotonic() < deadline:  # miners close on their own
            await asyncio.sleep(0.01)
        for session in list(self.sessions):
            session.close()
        await asyncio.sleep(0)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self.validator.close()
        self._fanout.close()
        log.info("stratum closed: answered %d shares in flight, sent client.reconnect to %d "
                 "miners", answered, told)

    # ------------------------------------------------------------ registry

    def admit(self, session: StratumSession) -> bool:
        """Whether a new connection may stay: not while draining, not from a banned
        address, not past the connection budget or the per-address cap."""
        if self._draining:
            return False
        key = session.ip_key
        if self.bans.is_banned(key):
            self.stats.refused_banned += 1
            self.refusals.event("banned", "refusing %s: the address is banned",
                                session.remote)
            return False
        if len(self.sessions) >= self.max_connections:
            self.stats.refused_full += 1
            self.refusals.event("full", "refusing %s: %d connections (the maximum)",
                                session.remote, len(self.sessions))
            return False
        count = self._per_address.get(key, 0)
        if not session.trusted and count >= self.config.max_connections_per_ip:
            self.stats.refused_per_ip += 1
            self.refusals.event(
                "per_address", "refusing %s: %d connections from %s already "
                "(stratum.max_connections_per_ip; a farm behind one address belongs in "
                "stratum.trusted_networks)", session.remote, count, key)
            return False
        self._per_address[key] = count + 1
        self.sessions.add(session)
        self._unsubscribed[session] = session.connected + self.config.subscribe_timeout
        return True

    def forget(self, session: StratumSession) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        count_down(self._per_address, session.ip_key)
        self._unsubscribed.pop(session, None)
        self._unauthorized.pop(session, None)
        self._partial.pop(session, None)
        self._working.pop(session, None)
        if session.subscribed:
            self.subscribed_count -= 1
        if session.authorized:
            self.authorized_count -= 1
        for worker in session.workers or ():
            self.authorized_names -= 1
            if count_down(self.worker_connections, worker):
                self.worker_session.pop(worker, None)
                names = self.account_workers.get(account_of(worker))
                if names is not None:
                    names.pop(worker, None)
                    if not names:
                        del self.account_workers[account_of(worker)]
        if session.working:
            self.difficulty_moved(session.difficulty, None)
        if session.extranonce1 is not None:
            self.extranonces.release(session.extranonce1)
        if session.old_extranonce1 is not None:
            self.extranonces.release(session.old_extranonce1[0])

    def subscribed(self, session: StratumSession) -> None:
        """mining.subscribe answered (once per connection): the authorize deadline starts."""
        self._unsubscribed.pop(session, None)
        self.subscribed_count += 1
        if not session.authorized:
            self._unauthorized[session] = time.monotonic() + self.config.authorize_timeout

    def session_authorized(self, session: StratumSession) -> None:
        """The connection's first successful mining.authorize."""
        self.authorized_count += 1
        self._unauthorized.pop(session, None)

    def worker_authorized(self, session: StratumSession, worker: str) -> None:
        """A worker name new to this connection (an O(1) index for the stats API)."""
        self.authorized_names += 1
        self.worker_connections[worker] = self.worker_connections.get(worker, 0) + 1
        self.worker_session[worker] = session
        self.account_workers.setdefault(account_of(worker), {})[worker] = None

    def difficulty_moved(self, old: float | None, new: float | None) -> None:
        """A working connection's difficulty changed (None: it started or stopped)."""
        counts = self.difficulties
        if old is not None:
            count_down(counts, old)
        if new is not None:
            counts[new] = counts.get(new, 0) + 1

    def partial_line(self, session: StratumSession, begun: bool) -> None:
        """A request line has begun (its deadline starts now) or has been finished."""
        self._partial.pop(session, None)
        if begun:
            self._partial[session] = time.monotonic() + self.config.line_timeout

    def strike(self, session: StratumSession, weight: int, reason: str) -> None:
        """Count bad input toward the address's ban score; ban when it crosses."""
        if not self.config.ban.enabled:
            return
        score = self.bans.strike(session.ip_key, weight)
        if score is not None:
            self.ban(session, f"{score} bad requests within {self.config.ban.window:g} s "
                              f"({reason})")

    def ban(self, session: StratumSession, reason: str) -> None:
        """Close the connection and refuse its address for `ban_seconds` (a trusted
        network only loses the connection: its other miners are not to blame)."""
        ban = self.config.ban
        self.stats.bans += 1
        if session.trusted:
            log.warning("closing %s (trusted network, not banned): %s", session.remote, reason)
        else:
            log.warning("banning %s for %g s: %s", session.ip_key, ban.ban_seconds, reason)
            self.bans.ban(session.ip_key)
            if self.ban_listener is not None:
                self.ban_listener(session.ip_key, ban.ban_seconds, reason)
        session.abort()

    # ------------------------------------------------------------ jobs and fan-out

    def job_record(
        self, job: Job, difficulty: float, epoch: int, group: str | None = None
    ) -> JobRecord:
        key = (job.job_id, difficulty)
        record = self._records.get(key)
        if record is None or record[4] != epoch:
            share_target = difficulty_to_target(difficulty)
            check = target_le(max(share_target, job.network_target))
            record = (job, difficulty, share_target, check, epoch, group or job.job_id)
            self._records[key] = record
        return record

    def difficulty_message(self, difficulty: float) -> bytes:
        message = self._diff_messages.get(difficulty)
        if message is None:
            if len(self._diff_messages) > 4096:
                self._diff_messages.clear()
            message = self._diff_messages[difficulty] = encode_set_difficulty(difficulty)
        return message

    def _advance_epoch(self, job: Job) -> bool:
        new_epoch = self._prevhash is not None and (
            job.clean_jobs or job.prevhash != self._prevhash
        )
        if new_epoch:
            self.epoch += 1
        self._prevhash = job.prevhash
        return new_epoch

    def _job_for(self, session: StratumSession, job: Job) -> Job:
        if self.config.mode == "solo":
            assert session.payout_script is not None
            return self.jobs.job_for_script(job, session.payout_script)
        return job

    def on_job(self, job: Job) -> None:
        """A new job from the JobSource: write it to every working session at once.

        One pass over the working sessions: the notify line is encoded once per job (per
        payout script in solo mode) and the job's record once per difficulty, so a
        session's share of the pass is its bookkeeping (StratumSession.take_job) and a
        slot in the batch of direct writes (or its transport.write when bytes are
        still queued there); no encoding, no tuple, no await per connection."""
        started = time.perf_counter()
        try:
            self._check_job(job)
        except ValueError:
            log.exception("not sending job %s", job.job_id)
            return
        self._advance_epoch(job)
        if len(self._records) > 8192:
            self._records.clear()
        epoch = self.epoch
        sessions = list(self._working)
        max_jobs = self.config.max_jobs_per_session
        solo = self.config.mode != "pool"
        notify = b"" if solo else encode_notify(job.notify_params())
        records: dict[float, JobRecord] = {}  # pool mode: this job's record per difficulty
        lines: dict[str, bytes] = {}  # solo mode: the notify line per variant
        batch = Batch()
        add_fd, add_data, add_owner = batch.fds.append, batch.data.append, batch.owners.append
        for session in sessions:
            transport = session.transport
            if session.closed or transport is None:
                continue
            difficulty = session.difficulty
            if solo:
                variant = self._job_for(session, job)
                line = lines.get(variant.job_id)
                if line is None:
                    line = lines[variant.job_id] = encode_notify(variant.notify_params())
                record = self.job_record(variant, difficulty, epoch, job.job_id)
            else:
                line = notify
                cached = records.get(difficulty)
                if cached is None:
                    cached = records[difficulty] = self.job_record(job, difficulty, epoch)
                record = cached
            data = session.take_job(record, line, max_jobs)
            fd = session.fd
            if fd >= 0 and not transport.get_write_buffer_size():
                add_fd(fd)
                add_data(data)
                add_owner(session)
            else:
                transport.write(data)
        for session, rest in self._fanout.write(batch):
            if not session.closed and session.transport is not None:
                session.transport.write(rest)
        self.stats.last_fanout_ms = (time.perf_counter() - started) * 1000.0
        self.stats.last_fanout_sessions = len(sessions)

    def start_work(self, session: StratumSession) -> None:
        """A session just became subscribed and authorized: give it the current job."""
        self._working[session] = None
        self.difficulty_moved(None, session.difficulty)
        job = self.jobs.current
        if job is None:
            return
        variant = self._job_for(session, job)
        params = variant.notify_params()
        params[8] = True  # a miner's first job is always clean: it has no earlier work
        session.send_job(variant, encode_notify(params), self.epoch, job.job_id)

    def reassign_extranonce1(self, session: StratumSession) -> bytes:
        """Give a session a fresh extranonce1, announced with mining.set_extranonce;
        only for miners that sent mining.extranonce.subscribe."""
        if not session.extranonce_subscribed:
            raise ValueError("the miner did not subscribe to extranonce changes")
        new = self.extranonces.allocate()
        old = session.old_extranonce1[0] if session.old_extranonce1 else None
        if old is not None and old != session.extranonce1:
            self.extranonces.release(old)  # two changes back: no job can use it now
        session.change_extranonce1(new)
        return new

    def broadcast_message(self, message: str) -> None:
        data = encode_show_message(message)
        for session in list(self.sessions):
            session.write(data)

    # ------------------------------------------------------------ payout scripts (solo)

    def cached_payout_script(self, address: str) -> bytes | None:
        return self._scripts.get(address)

    async def payout_script(self, address: str) -> bytes:
        script = self._scripts.get(address)
        if script is None:
            if self.node is None:
                raise RuntimeError("solo mode needs a node to check payout addresses")
            script = await self.node.address_script(address)
            if len(self._scripts) > 100_000:
                self._scripts.clear()
            self._scripts[address] = script
        return script

    # ------------------------------------------------------------ verdicts

    def _on_block(self, share: PendingShare) -> None:
        """A block candidate, straight from the hashing thread's results: to the node
        before the share is judged (stale or not)."""
        self.stats.blocks_found += 1
        block_hash = f"{share.hash_value:064x}"
        log.warning("block candidate %s at height %d from %r", block_hash, share.job.height,
                    share.worker)
        try:
            block_hex = share.job.block(share.extranonce1, share.extranonce2, share.header).hex()
        except Exception:
            log.exception("could not serialise block candidate %s", block_hash)
            return
        self.spawn(self._submit_block(share, block_hash, block_hex))

    async def _submit_block(self, share: PendingShare, block_hash: str, block_hex: str) -> None:
        if self.node is None:
            log.error("block candidate %s found but no node to submit it to", block_hash)
            result: str | None = "no node"
        else:
            try:
                result = await self.node.submitblock(block_hex)
            except Exception as exc:
                log.exception("submitblock failed for %s", block_hash)
                result = f"submit failed: {exc}"
        if result is None:
            self.stats.blocks_accepted += 1
            log.warning("block %s at height %d accepted by the node", block_hash,
                        share.job.height)
        else:
            log.error("block %s at height %d rejected by the node: %s", block_hash,
                      share.job.height, result)
        found = BlockFound(share.job.height, block_hash, share.worker, share.job.job_id, result,
                           time.time())
        self.blocks.append(found)
        for listener in list(self.block_listeners):
            try:
                listener(found)
            except Exception:
                log.exception("block listener failed")

    def _on_batch(self, batch: list[PendingShare]) -> None:
        now = self.clock()
        epoch = self.epoch
        accepted: list[PendingShare] = []
        for share in batch:
            value = share.hash_value
            if (value is not None and share.epoch == epoch and value <= share.share_target
                    and value > share.job.network_target):
                accepted.append(share)  # the common case, decided without allocating
                continue
            outcome = judge(value, share.share_target, share.job.network_target,
                            share.epoch != epoch)
            if outcome.verdict is Verdict.ACCEPTED:
                accepted.append(share)
                continue
            session: StratumSession = share.owner
            if outcome.verdict is Verdict.LOW_DIFFICULTY:
                self.duplicates.discard(share.dup_group, share.dup_key)
                session.answer_rejected(share.request_id, ErrorCode.LOW_DIFFICULTY,
                                        "Low difficulty share", worker=share.worker)
            else:
                session.answer_rejected(share.request_id, ErrorCode.JOB_NOT_FOUND, "Stale job",
                                        counts=False, worker=share.worker)
        if not accepted:
            return
        if self.sink is None:
            self._answer_accepted(accepted)
        else:
            records = [self._accepted_share(share, now) for share in accepted]
            self.spawn(self._record(accepted, records))

    def _accepted_share(self, share: PendingShare, now: float) -> AcceptedShare:
        value = share.hash_value or 0
        is_block = value <= share.job.network_target
        session: StratumSession = share.owner
        return AcceptedShare(
            worker=share.worker,
            username=account_of(share.worker),  # the submitting worker's own account
            difficulty=share.difficulty,
            share_difficulty=DIFF1_TARGET / value if value else float("inf"),
            job_id=share.job.job_id,
            height=share.job.height,
            is_block=is_block,
            block_hash=f"{value:064x}" if is_block else None,
            remote=session.remote,
            time=now,
        )

    async def _record(self, shares: list[PendingShare], records: list[AcceptedShare]) -> None:
        assert self.sink is not None
        self._answers_pending += len(shares)
        try:
            await self.sink.record_shares(records)
        except Exception as exc:  # the detail goes to the log (escaped), never to a miner
            failed = failed_rows(exc, len(shares))
            log.error("the share store did not record %d of %d shares: %s: %r", len(failed),
                      len(shares), type(exc).__name__, str(exc)[:500])
            for i in sorted(failed):
                share = shares[i]
                share.owner.write(encode_error(share.request_id, ErrorCode.OTHER, NOT_RECORDED))
            stored = [share for i, share in enumerate(shares) if i not in failed]
            if stored:
                self._answer_accepted(stored)
            return
        finally:
            self._answers_pending -= len(shares)
        self._answer_accepted(shares)

    def _answer_accepted(self, shares: list[PendingShare]) -> None:
        now = time.monotonic()
        stats = self.stats
        stats.accepted += len(shares)
        for share in shares:
            stats.credited += share.difficulty
            share.owner.answer_accepted(share, now)

    def spawn(self, coro: Any) -> None:
        """A task the server keeps (shutdown waits for it; nothing is left unretrieved)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("stratum task failed: %s: %r", type(exc).__name__, str(exc)[:200])

    # ------------------------------------------------------------ time-based limits

    async def _sweep(self) -> None:
        config = self.config
        vardiff = config.vardiff
        interval = min(1.0, config.subscribe_timeout / 4, config.authorize_timeout / 4,
                       config.line_timeout / 4, vardiff.retarget_time / 2)
        next_vardiff = time.monotonic() + vardiff.retarget_time / 2
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self._expire(now)
            if now >= next_vardiff:
                next_vardiff = now + vardiff.retarget_time / 2
                for session in list(self._working):
                    if now - session.vd_since >= vardiff.retarget_time:
                        session.vardiff_tick(now)
            self.bans.expire(now)
            self.refusals.flush(now)
            self.closures.flush(now)

    def _expire(self, now: float) -> None:
        """Close connections past a deadline: no subscribe, no authorize after subscribe,
        a line begun and not finished."""
        config = self.config
        for deadlines, reason, what in (
            (self._unsubscribed, "no_subscribe",
             f"no mining.subscribe within {config.subscribe_timeout:g} s"),
            (self._unauthorized, "no_authorize",
             f"no successful mining.authorize within {config.authorize_timeout:g} s of "
             "subscribing"),
            (self._partial, "line_timeout",
             f"a request line unfinished after {config.line_timeout:g} s"),
        ):
            expired = []
            for session, deadline in deadlines.items():
                if deadline > now:
                    break  # insertion order is deadline order
                expired.append(session)
            for session in expired:
                del deadlines[session]
                if reason == "no_subscribe":
                    self.stats.idle_closed += 1
                elif reason == "no_authorize":
                    self.stats.unauthorized_closed += 1
                else:
                    self.stats.line_timeouts += 1
                    self.strike(session, CLOSING_STRIKES, what)
                self.closures.event(reason, "closing %s: %s", session.remote, what)
                session.abort()
