"""One miner connection: an asyncio.Protocol with a few slots of state.

No task, no StreamReader/StreamWriter pair, no per-connection timer: the event loop
calls `data_received`, the session answers through its transport, and the server's
sweep handles time-based limits. That keeps an idle connection to a few hundred bytes
of Python objects besides the transport itself.

The session owns the per-connection protocol state (subscription, authorized workers,
negotiated version mask, difficulty, the jobs it was sent with their difficulty) and
the cheap checks of a submission; hashing and verdicts happen in batches in the
validator, and the server's batch handler answers through `answer_*` here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from pool.node.base import InvalidAddress
from pool.protocol import ErrorCode, StratumError
from pool.shares.checks import (
    check_ntime,
    duplicate_key,
    negotiate_version_mask,
    rolled_version,
)
from pool.shares.submission import ShareRejected, parse_submit
from pool.shares.validator import PendingShare
from pool.stratum import params as check
from pool.stratum.bans import CLOSING_STRIKES
from pool.stratum.codec import (
    InvalidJSON,
    MalformedRequest,
    Request,
    encode_error,
    encode_result,
    encode_set_extranonce,
    encode_show_message,
    encode_true,
    parse_request,
)
from pool.stratum.identity import account_of, authorize_problem
from pool.stratum.limits import address_key, is_trusted
from pool.stratum.vardiff import clamp_difficulty, retarget

if TYPE_CHECKING:
    from pool.jobs.job import Job
    from pool.shares.checks import DuplicateFilter
    from pool.shares.validator import ShareValidator
    from pool.stratum.config import StratumConfig
    from pool.stratum.counters import ServerStats
    from pool.stratum.extranonce import ExtranonceAllocator
    from pool.stratum.identity import AccountProblem
    from pool.stratum.limits import LogThrottle, Network

log = logging.getLogger(__name__)

# (job, difficulty, share_target, check_target_le, epoch, group): shared between sessions
# that got the same job at the same difficulty. `group` names the template the job was
# built on (solo variants of one template share it) and scopes the duplicate filter.
JobRecord = tuple["Job", float, int, bytes, int, str]


@runtime_checkable
class SessionHost(Protocol):
    """All a session may use of the server that accepted it (StratumServer is one).

    The shared state a share check needs (config, counters, the extranonce space, the
    duplicate filter, the validator, the clock) and the events a session reports so the
    server can keep its registry, deadlines and counters. A session never sees the other
    sessions, the fan-out or the node; and this module need not import the server.
    """

    config: StratumConfig
    stats: ServerStats
    closures: LogThrottle  # throttled log of connections the pool closes
    trusted_networks: tuple[Network, ...]
    account_problem: AccountProblem | None
    reject_listener: Callable[[str, int], None] | None  # (worker, code) of a refused share
    extranonces: ExtranonceAllocator
    duplicates: DuplicateFilter
    validator: ShareValidator
    clock: Callable[[], float]

    def admit(self, session: StratumSession) -> bool: ...
    def forget(self, session: StratumSession) -> None: ...
    def partial_line(self, session: StratumSession, begun: bool) -> None: ...
    def strike(self, session: StratumSession, weight: int, reason: str) -> None: ...
    def subscribed(self, session: StratumSession) -> None: ...
    def session_authorized(self, session: StratumSession) -> None: ...
    def worker_authorized(self, session: StratumSession, worker: str) -> None: ...
    def start_work(self, session: StratumSession) -> None: ...
    def difficulty_moved(self, old: float | None, new: float | None) -> None: ...
    def job_record(self, job: Job, difficulty: float, epoch: int,
                   group: str | None = None) -> JobRecord: ...  # fmt: skip
    def difficulty_message(self, difficulty: float) -> bytes: ...
    def cached_payout_script(self, address: str) -> bytes | None: ...
    async def payout_script(self, address: str) -> bytes: ...
    def spawn(self, coro: Any) -> None: ...


def _password_difficulty(password: object) -> float | None:
    """`d=0.5` (or `d=0.5,x=...`) in the password: a suggested difficulty, as many pools."""
    if not isinstance(password, str) or "d=" not in password:
        return None
    for part in password.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key == "d":
            try:
                diff = float(value[:64])
            except ValueError:
                return None
            return diff if diff > 0 and diff == diff and diff != float("inf") else None
    return None


def _method_name(method: str) -> str:
    """A method name for an error answer: the miner's own string, bounded."""
    return repr(method[:64]) + ("..." if len(method) > 64 else "")


class StratumSession(asyncio.Protocol):
    __slots__ = (
        "_backlog",
        "_rest",
        "authorized",
        "closed",
        "connected",
        "difficulty",
        "en1_hex",
        "extranonce1",
        "extranonce_subscribed",
        "fd",
        "ip_key",
        "jobs",
        "min_difficulty",
        "old_extranonce1",
        "payout_script",
        "remote",
        "sent_difficulty",
        "server",
        "stopped",
        "subscribed",
        "transport",
        "trusted",
        "user_agent",
        "vd_count",
        "vd_credited",
        "vd_since",
        "version_mask",
        "workers",
        "working",
    )

    def __init__(self, server: SessionHost) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.remote = ""
        self.ip_key = ""
        self.trusted = False
        self._rest = b""
        self._backlog: list[bytes] | None = None  # lines read while a request is pending
        self.closed = False
        self.stopped = False  # shutdown: no more input is read
        self.connected = 0.0
        self.extranonce1: bytes | None = None
        self.en1_hex = ""
        self.old_extranonce1: tuple[bytes, frozenset[str]] | None = None
        self.subscribed = False
        self.authorized = False
        self.workers: set[str] | None = None
        self.payout_script: bytes | None = None
        self.user_agent = ""
        self.version_mask: int | None = None
        self.min_difficulty = 0.0
        self.difficulty = server.config.vardiff.initial
        self.sent_difficulty: float | None = None
        self.jobs: dict[str, JobRecord] = {}
        self.working = False
        self.extranonce_subscribed = False
        self.vd_since = 0.0
        self.vd_count = 0
        self.vd_credited = 0.0

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its API
        transport = self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        peer = transport.get_extra_info("peername")
        self.enter(peer[0] if peer else "")

    def enter(self, remote: str) -> None:
        """Count the connection as coming from `remote` (the peer, or the client a
        trusted proxy names: pool.stratum.proxied), and ask the server to admit it."""
        transport = self.transport
        assert transport is not None
        self.remote = remote
        self.ip_key = address_key(remote)
        self.trusted = is_trusted(remote, self.server.trusted_networks)
        self.connected = time.monotonic()
        if not self.server.admit(self):
            self.closed = True
            transport.abort()
            return
        transport.set_write_buffer_limits(high=self.server.config.write_buffer_limit)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.forget(self)

    def pause_writing(self) -> None:
        """The client stopped reading and its queue passed the limit: drop it, so one
        stuck miner never holds memory or stalls the fan-out."""
        self.server.stats.dropped_slow += 1
        self.server.closures.event(
            "slow_reader", "dropping %s: write buffer over %d bytes", self.remote,
            self.server.config.write_buffer_limit,
        )
        self.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.stopped:
            return
        had_rest = bool(self._rest)
        if had_rest:
            data = self._rest + data
        lines = data.split(b"\n")
        rest = lines.pop()
        max_line = self.server.config.max_line_bytes
        if len(rest) > max_line:
            self._protocol_violation(f"line longer than {max_line} bytes")
            return
        self._rest = rest
        if rest:
            if lines or not had_rest:  # a new line has begun: its deadline starts now
                self.server.partial_line(self, True)
        elif had_rest:
            self.server.partial_line(self, False)
        for line in lines:
            if self.closed:
                return
            if len(line) > max_line:
                self._protocol_violation(f"line longer than {max_line} bytes")
                return
            if not line or line.isspace():
                continue
            if self._backlog is not None:
                self._backlog.append(line)
                continue
            self.handle_line(line)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # ------------------------------------------------------------ output helpers

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    def close(self) -> None:
        """Close after flushing what is queued."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def _protocol_violation(self, reason: str) -> None:
        """Input that ends the connection; it weighs CLOSING_STRIKES in the ban score."""
        server = self.server
        server.stats.protocol_errors += 1
        server.closures.event("protocol_error", "closing %s: %s", self.remote, reason)
        self.write(encode_error(None, ErrorCode.OTHER, reason))
        self.close()
        server.strike(self, CLOSING_STRIKES, reason)

    # ------------------------------------------------------------ dispatch

    def handle_line(self, line: bytes) -> None:
        try:
            request = parse_request(line)
        except InvalidJSON as exc:
            self._protocol_violation(str(exc))
            return
        except MalformedRequest as exc:
            self.write(encode_error(exc.request_id, exc.code, exc.message))
            self.count_reject(exc.code)
            return
        handler = _HANDLERS.get(request.method)
        try:
            if handler is None:
                raise StratumError(ErrorCode.OTHER,
                                   f"Unknown method {_method_name(request.method)}")
            handler(self, request)
        except StratumError as exc:
            self.write(encode_error(request.id, exc.code, exc.message))
            self.count_reject(exc.code)
            if request.method == "mining.submit":
                self._worker_rejected(request.params, exc.code)
        except Exception as exc:  # a bug, not the miner's input: answer, say so, go on
            self.server.stats.internal_errors += 1
            log.error("internal error answering %s from %s: %s: %r",
                      _method_name(request.method), self.remote, type(exc).__name__,
                      str(exc)[:200])
            self.write(encode_error(request.id, ErrorCode.OTHER, "Internal error"))

    def _worker_rejected(self, params: Any, code: int) -> None:
        """Tell the server's reject listener which worker a refused submission was for,
        when it names one this connection authorized (anything else is nobody's)."""
        listener = self.server.reject_listener
        workers = self.workers
        if listener is None or not workers or not isinstance(params, list) or not params:
            return
        worker = params[0]
        if isinstance(worker, str) and worker in workers:
            listener(worker, code)

    def _hold_input(self) -> None:
        """Stop reading until an asynchronous step (solo authorize) completes: lines of
        the chunk already read wait in the backlog (at most one read's worth), and the
        socket is not read again, so TCP flow control holds the miner back."""
        if self._backlog is None:
            self._backlog = []
            if self.transport is not None and not self.closed:
                self.transport.pause_reading()

    def _release_input(self) -> None:
        backlog, self._backlog = self._backlog, None
        for line in backlog or ():
            if self.closed:
                return
            if self._backlog is not None:
                self._backlog.append(line)
            else:
                self.handle_line(line)
        if (self._backlog is None and not self.closed and not self.stopped
                and self.transport is not None):
            self.transport.resume_reading()

    def stop_reading(self) -> None:
        """Shutdown: read nothing more from this miner (what was read is still answered)."""
        if not self.stopped:
            self.stopped = True
            if self.transport is not None and not self.closed and self._backlog is None:
                self.transport.pause_reading()

    def say_goodbye(self, message: bytes) -> None:
        """Shutdown, once everything read is answered: send `message` (client.reconnect)
        and our end of the stream, then read again, discarding, until the miner closes.
        Closing with unread input would reset the connection, and a reset can destroy
        what the miner has not read yet: the last answers and the reconnect itself."""
        transport = self.transport
        if self.closed or transport is None:
            return
        self._backlog = None
        transport.write(message)
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()  # `stopped`: data_received drops what arrives

    # ------------------------------------------------------------ methods

    def m_subscribe(self, request: Request) -> None:
        agent = check.subscribe(request.params)
        if agent is not None:
            self.user_agent = agent[:64]
        if self.extranonce1 is None:
            self.extranonce1 = self.server.extranonces.allocate()
            self.en1_hex = self.extranonce1.hex()
        self.subscribed = True
        self.server.subscribed(self)
        sid = self.en1_hex
        result = [
            [["mining.set_difficulty", sid], ["mining.notify", sid]],
            self.en1_hex,
            self.server.config.extranonce2_size,
        ]
        self.write(encode_result(request.id, result))
        self._start_work()

    def m_extranonce_subscribe(self, request: Request) -> None:
        check.no_params(request.params, "mining.extranonce.subscribe")
        self.extranonce_subscribed = True
        self.write(encode_true(request.id))
        if self.extranonce1 is not None:
            self.write(encode_set_extranonce(self.extranonce1, self.server.config.extranonce2_size))

    def m_authorize(self, request: Request) -> None:
        name, password = check.authorize(request.params)
        if not name.strip():
            raise StratumError(ErrorCode.UNAUTHORIZED, "Worker name required")
        worker = name.strip()
        problem = authorize_problem(worker, self.server.account_problem)  # identity.py
        if problem is not None:
            raise StratumError(ErrorCode.UNAUTHORIZED, problem)
        self._check_worker_room(worker)
        if self.server.config.mode == "solo":
            address = account_of(worker)
            script = self.server.cached_payout_script(address)
            if script is None:
                self._hold_input()
                self.server.spawn(self._authorize_solo(request, worker, password, address))
                return
            if self.payout_script is not None and script != self.payout_script:
                raise StratumError(
                    ErrorCode.UNAUTHORIZED, "one payout address per connection in solo mode"
                )
            self.payout_script = script
        self._authorized(request, worker, password)

    async def _authorize_solo(
        self, request: Request, worker: str, password: object, address: str
    ) -> None:
        try:
            try:
                script = await self.server.payout_script(address)
            except Exception as exc:  # the node's InvalidAddress, or the node being down
                if isinstance(exc, InvalidAddress):
                    self.write(encode_error(request.id, ErrorCode.UNAUTHORIZED,
                                            f"Invalid payout address: {exc.reason}"))
                    self.count_reject(ErrorCode.UNAUTHORIZED)
                else:  # the node's own words (its address, its state) stay in the log
                    log.warning("cannot check a payout address: %s: %r", type(exc).__name__,
                                str(exc))  # fmt: skip
                    self.write(encode_error(request.id, ErrorCode.UNAUTHORIZED,
                                            "Payout address cannot be checked now; "
                                            "try again later"))
            else:
                if self.closed:
                    return
                if self.payout_script is not None and script != self.payout_script:
                    self.write(encode_error(request.id, ErrorCode.UNAUTHORIZED,
                                            "one payout address per connection in solo mode"))
                    self.count_reject(ErrorCode.UNAUTHORIZED)
                else:
                    self.payout_script = script
                    self._check_worker_room(worker)
                    self._authorized(request, worker, password)
        except StratumError as exc:
            self.write(encode_error(request.id, exc.code, exc.message))
            self.count_reject(exc.code)
        finally:
            self._release_input()

    def _check_worker_room(self, worker: str) -> None:
        """A connection authorizes at most `max_workers_per_connection` names (a proxy's
        rigs share one connection; more than that is a flood)."""
        workers = self.workers
        cap = self.server.config.max_workers_per_connection
        if workers is not None and len(workers) >= cap and worker not in workers:
            raise StratumError(ErrorCode.UNAUTHORIZED,
                               f"Too many workers on this connection (at most {cap})")

    def _authorized(self, request: Request, worker: str, password: object) -> None:
        if self.workers is None:
            self.workers = set()
        if worker not in self.workers:
            self.workers.add(worker)
            self.server.worker_authorized(self, worker)
        if not self.authorized:
            self.authorized = True
            self.server.session_authorized(self)
        suggested = _password_difficulty(password)
        if suggested is not None and not self.working:
            self.set_difficulty(
                clamp_difficulty(self.server.config.vardiff, suggested, self.min_difficulty)
            )
        self.write(encode_true(request.id))
        self._start_work()

    def m_configure(self, request: Request) -> None:
        extensions, options = check.configure(request.params)
        # every value is checked before any takes effect: a bad request changes nothing
        mask_int = check.version_mask(options.get("version-rolling.mask"))
        check.min_bit_count(options.get("version-rolling.min-bit-count"))
        min_diff = None
        if "minimum-difficulty" in extensions:
            min_diff = check.minimum_difficulty(options.get("minimum-difficulty.value"))
        result: dict[str, Any] = {}
        for name in extensions[:16]:
            if name == "version-rolling":
                mask = negotiate_version_mask(self.server.config.version_mask, mask_int)
                self.version_mask = mask
                result["version-rolling"] = True
                result["version-rolling.mask"] = f"{mask:08x}"
            elif name == "minimum-difficulty" and min_diff is not None:
                self.min_difficulty = min_diff
                self.set_difficulty(
                    clamp_difficulty(self.server.config.vardiff, self.difficulty, min_diff)
                )
                result["minimum-difficulty"] = True
            else:
                result[name[:64]] = False
        self.write(encode_result(request.id, result))

    def m_suggest_difficulty(self, request: Request) -> None:
        value = check.suggest_difficulty(request.params)
        self.set_difficulty(
            clamp_difficulty(self.server.config.vardiff, value, self.min_difficulty)
        )
        self.write(encode_true(request.id))

    def m_ping(self, request: Request) -> None:
        self.write(encode_result(request.id, "pong"))

    def m_submit(self, request: Request) -> None:
        if not self.subscribed:
            raise StratumError(ErrorCode.NOT_SUBSCRIBED, "Not subscribed")
        params = request.params
        worker = check.submit(params)
        workers = self.workers
        if workers is None or worker not in workers:
            raise StratumError(ErrorCode.UNAUTHORIZED, "Unauthorized worker")
        server = self.server
        sub = parse_submit(params, server.config.extranonce2_size)
        record = self.jobs.get(sub.job_id)
        if record is None:
            raise ShareRejected(ErrorCode.JOB_NOT_FOUND, "Job not found")
        job, difficulty, share_target, check_le, epoch, group = record
        if sub.version_bits is None:
            version = job.version
        else:
            mask = self.version_mask
            if mask is None:  # rolling without mining.configure, as some ASICs do
                mask = server.config.version_mask
            version = rolled_version(job.version, sub.version_bits, mask)
        check_ntime(sub.ntime, job.min_time, server.clock())
        extranonce1 = self.extranonce1
        assert extranonce1 is not None
        if self.old_extranonce1 is not None and sub.job_id in self.old_extranonce1[1]:
            extranonce1 = self.old_extranonce1[0]  # a job sent before set_extranonce
        key = duplicate_key(extranonce1, sub.extranonce2, sub.ntime, sub.nonce, version)
        if not server.duplicates.add(group, key):
            raise ShareRejected(ErrorCode.DUPLICATE, "Duplicate share")
        header = job.header(extranonce1, sub.extranonce2, sub.ntime, sub.nonce, version)
        server.validator.submit(
            PendingShare(
                self, request.id, job, header, extranonce1, sub.extranonce2, sub.worker,
                difficulty, share_target, check_le, key, epoch, group,
            )
        )

    # ------------------------------------------------------------ work and answers

    def _start_work(self) -> None:
        if self.working or not (self.subscribed and self.authorized):
            return
        self.working = True
        self.vd_since = time.monotonic()
        self.server.start_work(self)

    def send_job(self, job: Job, notify: bytes, epoch: int, group: str | None = None) -> None:
        """Queue one job through the transport (see prepare_job)."""
        data = self.prepare_job(job, notify, epoch, group)
        if data is not None:
            self.transport.write(data)  # type: ignore[union-attr]  # open: it has a transport

    def prepare_job(
        self, job: Job, notify: bytes, epoch: int, group: str | None = None
    ) -> bytes | None:
        """Record a job as sent and return the bytes to send (None when closed).

        A changed difficulty goes out just before the job and applies to it: the record
        binds this job to the difficulty it was sent with."""
        if self.closed:
            return None
        server = self.server
        record = server.job_record(job, self.difficulty, epoch, group)
        return self.take_job(record, notify, server.config.max_jobs_per_session)

    def take_job(self, record: JobRecord, notify: bytes, max_jobs: int) -> bytes:
        """The per-connection step of a fan-out (and of prepare_job): record the job as
        sent with `record` (the server's, for this session's difficulty), forget the
        oldest past `max_jobs`, and return the bytes to send, set_difficulty first when
        the difficulty is not the one last sent."""
        jobs = self.jobs
        jobs[record[0].job_id] = record
        if len(jobs) > max_jobs:
            del jobs[next(iter(jobs))]
        difficulty = record[1]
        if difficulty != self.sent_difficulty:
            self.sent_difficulty = difficulty
            return self.server.difficulty_message(difficulty) + notify
        return notify

    def answer_accepted(self, share: PendingShare, now: float) -> None:
        self.write(encode_true(share.request_id))
        self.vd_count += 1
        self.vd_credited += share.difficulty
        if self.vd_count >= self.server.config.vardiff.retarget_shares:
            self.vardiff_tick(now)

    def answer_rejected(
        self, request_id: Any, code: int, message: str, *, counts: bool = True,
        worker: str | None = None,
    ) -> None:
        self.write(encode_error(request_id, code, message))
        self.server.stats.count_reject(code)
        listener = self.server.reject_listener
        if worker is not None and listener is not None:
            listener(worker, code)
        if counts:
            self.server.strike(self, 1, "invalid requests")

    def count_reject(self, code: int) -> None:
        """An error answer: counted by code, and toward the address's ban score (stale
        shares, the pool's own doing, never come here)."""
        self.server.stats.count_reject(code)
        self.server.strike(self, 1, "invalid requests")

    def set_difficulty(self, difficulty: float) -> None:
        """Change the difficulty of the next job (the server keeps the distribution of
        working connections' difficulties current for the metrics)."""
        if difficulty != self.difficulty:
            if self.working:
                self.server.difficulty_moved(self.difficulty, difficulty)
            self.difficulty = difficulty

    def vardiff_tick(self, now: float) -> None:
        """Retarget if due; the new difficulty goes out with the next job."""
        server = self.server
        elapsed = now - self.vd_since
        new = retarget(
            server.config.vardiff, self.difficulty, self.vd_count, self.vd_credited,
            elapsed, self.min_difficulty,
        )
        if new is not None:
            self.set_difficulty(new)
        if new is not None or elapsed >= server.config.vardiff.retarget_time:
            self.vd_since = now
            self.vd_count = 0
            self.vd_credited = 0.0

    def change_extranonce1(self, extranonce1: bytes) -> None:
        """Move this connection to a new extranonce1 (mining.set_extranonce). It applies
        to jobs sent from now on; shares for jobs already sent keep the old one."""
        if self.extranonce1 is not None:
            self.old_extranonce1 = (self.extranonce1, frozenset(self.jobs))
        self.extranonce1 = extranonce1
        self.en1_hex = extranonce1.hex()
        self.write(encode_set_extranonce(extranonce1, self.server.config.extranonce2_size))

    def show_message(self, message: str) -> None:
        self.write(encode_show_message(message))


_HANDLERS: dict[str, Callable[[StratumSession, Request], None]] = {
    "mining.subscribe": StratumSession.m_subscribe,
    "mining.authorize": StratumSession.m_authorize,
    "mining.submit": StratumSession.m_submit,
    "mining.configure": StratumSession.m_configure,
    "mining.suggest_difficulty": StratumSession.m_suggest_difficulty,
    "mining.extranonce.subscribe": StratumSession.m_extranonce_subscribe,
    "mining.ping": StratumSession.m_ping,
}
