"""A Stratum V1 mining client that does real SHA-256d work at a set hash rate.

`StratumClient` is the connection: an asyncio.Protocol with request/response futures and
a notification callback (light enough for thousands per process, so the load benchmark
and the protocol tests use it too). `Miner` is the rig: it subscribes, negotiates
version rolling, authorizes, builds headers from mining.notify exactly as an ASIC's
controller does, scans nonces with `hashing.scan_nonces` in a worker thread and paces
the scans so the real hash rate matches `hashrate` (H/s). Pausing it (a sleeping rig)
stops the hashing; the rate can change at any time. It honours set_difficulty (bound to
the next job), clean_jobs, set_extranonce, set_version_mask and client.reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pool.bitcoin.hashes import sha256d
from pool.bitcoin.merkle import root_from_branch
from pool.bitcoin.prevhash import prevhash_from_stratum
from pool.bitcoin.target import difficulty_to_target
from pool.stratum.codec import (
    DEFAULT_MAX_LINE,
    InvalidJSON,
    encode_request,
    parse_message,
)

log = logging.getLogger(__name__)

Notification = Callable[[str, list], None]


class StratumRequestError(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(f"stratum error {error}")
        self.error = error
        self.code = error[0] if isinstance(error, list) and error else None


class StratumClient(asyncio.Protocol):
    """One client connection: `request()` awaits the matching response; notifications
    (messages with a method) go to `on_notification(method, params)`."""

    def __init__(
        self, on_notification: Notification | None = None, max_line: int = 1 << 20
    ) -> None:
        self.on_notification = on_notification
        self.max_line = max(max_line, DEFAULT_MAX_LINE)
        self.transport: asyncio.Transport | None = None
        self._rest = b""
        self._ids = itertools.count(1)
        self._waiting: dict[Any, asyncio.Future] = {}
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.on_response: Callable[[dict], None] | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        on_notification: Notification | None = None,
        *,
        local_addr: tuple[str, int] | None = None,
        timeout: float = 10.0,
    ) -> StratumClient:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: cls(on_notification), host, port, local_addr=local_addr),
            timeout,
        )
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's have its API

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_result(exc)

    def data_received(self, data: bytes) -> None:
        if self._rest:
            data = self._rest + data
        lines = data.split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > self.max_line:
            log.warning("pool sent a line over %d bytes; closing", self.max_line)
            self.close()
            return
        for line in lines:
            if not line.strip():
                continue
            try:
                msg = parse_message(line)
            except InvalidJSON:
                log.warning("pool sent invalid JSON: %r", line[:200])
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: dict) -> None:
        method = msg.get("method")
        if method is not None:
            if self.on_notification is not None:
                params = msg.get("params") or []
                self.on_notification(method, params)
            return
        fut = self._waiting.pop(msg.get("id"), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)
        elif self.on_response is not None:
            self.on_response(msg)

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    def send_raw(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")
        self.transport.write(data)

    def send(self, method: str, params: list, req_id: Any = None) -> Any:
        """Send a request without waiting; returns its id."""
        if req_id is None:
            req_id = next(self._ids)
        self.send_raw(encode_request(req_id, method, params))
        return req_id

    async def request(self, method: str, params: list, timeout: float = 10.0) -> dict:
        """Send and wait for the full response message ({"id","result","error"})."""
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        try:
            self.send(method, params, req_id)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(req_id, None)

    async def call(self, method: str, params: list, timeout: float = 10.0) -> Any:
        """Like request, but returns the result and raises StratumRequestError."""
        msg = await self.request(method, params, timeout)
        if msg.get("error"):
            raise StratumRequestError(msg["error"])
        return msg.get("result")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


@dataclass
class MiningJob:
    """A mining.notify, with the difficulty and extranonce1 that apply to it."""

    job_id: str
    prevhash: bytes  # internal order
    coinb1: bytes
    coinb2: bytes
    branch: list[bytes]
    version: int
    nbits: int
    ntime: int
    clean: bool
    difficulty: float
    extranonce1: bytes
    extranonce2_size: int

    @classmethod
    def from_notify(
        cls, params: list, difficulty: float, extranonce1: bytes, extranonce2_size: int
    ) -> MiningJob:
        if len(params) < 9:
            raise ValueError(f"mining.notify has {len(params)} params, expected 9")
        return cls(
            job_id=params[0],
            prevhash=prevhash_from_stratum(params[1]),
            coinb1=bytes.fromhex(params[2]),
            coinb2=bytes.fromhex(params[3]),
            branch=[bytes.fromhex(h) for h in params[4]],
            version=int(params[5], 16),
            nbits=int(params[6], 16),
            ntime=int(params[7], 16),
            clean=bool(params[8]),
            difficulty=difficulty,
            extranonce1=extranonce1,
            extranonce2_size=extranonce2_size,
        )

    def merkle_root(self, extranonce2: bytes) -> bytes:
        coinbase = self.coinb1 + self.extranonce1 + extranonce2 + self.coinb2
        return root_from_branch(sha256d(coinbase), self.branch)

    def header76(self, extranonce2: bytes, ntime: int, version: int) -> bytes:
        return (
            struct.pack("<I", version & 0xFFFFFFFF)
            + self.prevhash
            + self.merkle_root(extranonce2)
            + struct.pack("<II", ntime & 0xFFFFFFFF, self.nbits)
        )


@dataclass
class MinerStats:
    hashes: int = 0
    shares_found: int = 0
    accepted: int = 0
    difficulty_accepted: float = 0.0
    last_accepted: float = 0.0  # time.time() of the last accepted share
    rejected: dict[int, int] = field(default_factory=dict)
    jobs: int = 0
    reconnects: int = 0
    messages: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class Miner:
    """An emulated rig mining through a Stratum V1 pool.

    `hashrate` (H/s) and `paused` may be changed while it runs. `run()` keeps the
    connection up (reconnecting with backoff, and on client.reconnect) until `stop()`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        worker: str,
        *,
        password: str = "x",
        hashrate: float = 100_000.0,
        version_rolling: bool = False,
        version_mask: int = 0x1FFFE000,
        suggest_difficulty: float | None = None,
        extranonce_subscribe: bool = True,
        slice_seconds: float = 0.05,
        user_agent: str = "rigsim/1.0",
        reconnect_delay: float = 0.5,
        local_host: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.worker = worker
        self.password = password
        self._hashrate = float(hashrate)
        self.version_rolling = version_rolling
        self.requested_mask = version_mask
        self.suggest = suggest_difficulty
        self.extranonce_subscribe = extranonce_subscribe
        self.slice_seconds = slice_seconds
        self.user_agent = user_agent
        self.reconnect_delay = reconnect_delay
        self.local_host = local_host  # connect from this address (a rig's own loopback IP)
        self.stats = MinerStats()
        self.client: StratumClient | None = None
        self.version_mask = 0
        self.extranonce1 = b""
        self.extranonce2_size = 0
        self.difficulty = 1.0
        self.job: MiningJob | None = None
        self._paused = False
        self._running = False
        self._wake = asyncio.Event()
        self._reconnect_to: tuple[str, int, float] | None = None
        self._tasks: set[asyncio.Task] = set()  # shares waiting for their answer
        self._scanning = False  # a slice of nonces is being hashed in the worker thread
        self._run_task: asyncio.Task | None = None
        self.connected = asyncio.Event()
        self.on_share: Callable[[bool, Any], None] | None = None

    # ------------------------------------------------------------ controls

    @property
    def hashrate(self) -> float:
        return self._hashrate

    @hashrate.setter
    def hashrate(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"hash rate cannot be negative: {value}")
        self._hashrate = float(value)
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def idle(self) -> bool:
        """No slice of nonces being hashed and no share waiting for its answer: where a
        paused rig gets once what it had in flight has landed (tests wait for it)."""
        return not self._scanning and not self._tasks

    def pause(self) -> None:
        """A sleeping rig: connected or not, it hashes nothing."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def start(self) -> asyncio.Task:
        self._run_task = asyncio.get_running_loop().create_task(self.run())
        return self._run_task

    async def stop(self) -> None:
        self._running = False
        self._wake.set()
        if self.client is not None:
            self.client.close()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------ connection

    async def run(self) -> None:
        self._running = True
        delay = self.reconnect_delay
        while self._running:
            try:
                await self._session()
                delay = self.reconnect_delay
            except (TimeoutError, OSError, ConnectionError, StratumRequestError) as exc:
                log.info(  # the worker and the pool's answer are logged escaped
                    "miner %r: connection to %s:%d failed: %r",
                    self.worker,
                    self.host,
                    self.port,
                    str(exc),
                )
                delay = min(delay * 2, 10.0)
            finally:
                self.connected.clear()
                self.job = None
            if not self._running:
                break
            target = self._reconnect_to
            self._reconnect_to = None
            if target is not None:
                self.host, self.port, wait = target
                self.stats.reconnects += 1
                await asyncio.sleep(wait)
            else:
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        local = (self.local_host, 0) if self.local_host else None
        client = await StratumClient.connect(
            self.host, self.port, self._on_notification, local_addr=local
        )
        self.client = client
        miner_task = None
        try:
            if self.version_rolling:
                result = await client.call(
                    "mining.configure",
                    [
                        ["version-rolling"],
                        {
                            "version-rolling.mask": f"{self.requested_mask:08x}",
                            "version-rolling.min-bit-count": 2,
                        },
                    ],
                )
                if result.get("version-rolling"):
                    self.version_mask = int(result["version-rolling.mask"], 16)
            sub = await client.call("mining.subscribe", [self.user_agent])
            self.extranonce1 = bytes.fromhex(sub[1])
            self.extranonce2_size = int(sub[2])
            if self.extranonce_subscribe:
                await client.call("mining.extranonce.subscribe", [])
            if self.suggest is not None:
                await client.call("mining.suggest_difficulty", [self.suggest])
            ok = await client.call("mining.authorize", [self.worker, self.password])
            if ok is not True:
                raise StratumRequestError([24, "authorize returned false", None])
            self.connected.set()
            miner_task = asyncio.get_running_loop().create_task(self._mine(client))
            await client.closed
        finally:
            if miner_task is not None:
                miner_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await miner_task
            client.close()

    def _on_notification(self, method: str, params: list) -> None:
        if method == "mining.set_difficulty" and params:
            self.difficulty = float(params[0])
        elif method == "mining.notify":
            try:
                job = MiningJob.from_notify(
                    params, self.difficulty, self.extranonce1, self.extranonce2_size
                )
            except (ValueError, TypeError, IndexError) as exc:
                log.warning("bad mining.notify: %r", str(exc))
                return
            self.stats.jobs += 1
            self.job = job
            self._wake.set()
        elif method == "mining.set_extranonce" and params:
            # valid from the next mining.notify on (jobs already sent keep theirs)
            self.extranonce1 = bytes.fromhex(params[0])
            if len(params) > 1:
                self.extranonce2_size = int(params[1])
        elif method == "mining.set_version_mask" and params:
            self.version_mask = int(params[0], 16)
        elif method == "client.reconnect":
            host = params[0] if len(params) > 0 and params[0] else self.host
            port = int(params[1]) if len(params) > 1 and params[1] else self.port
            wait = float(params[2]) if len(params) > 2 else 0.0
            self._reconnect_to = (host, port, wait)
            if self.client is not None:
                self.client.close()
        elif method == "client.show_message" and params:
            self.stats.messages.append(str(params[0]))

    # ------------------------------------------------------------ hashing

    async def _mine(self, client: StratumClient) -> None:
        import hashing  # numba: loaded by the first rig that mines, not by `import rigsim`

        loop = asyncio.get_running_loop()
        en2_counter = 0
        current: MiningJob | None = None
        roll = 0
        nonce = 0
        header76 = b""
        en2 = b""
        version = 0
        while not client.is_closed:
            job = self.job
            if job is None or self._paused or self._hashrate <= 0:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            mask = self.version_mask
            if job is not current:
                current = job
                en2_counter += 1
                roll = mask & -mask  # rigs roll from the first job on (AsicBoost)
                nonce = 0
                header76 = b""
            if not header76 or nonce >= 1 << 32:
                if nonce >= 1 << 32:
                    nonce = 0
                    if mask:
                        roll = ((roll | ~mask) + 1) & mask
                    if not mask or roll == 0:
                        en2_counter += 1
                en2 = (en2_counter % (1 << (8 * job.extranonce2_size))).to_bytes(
                    job.extranonce2_size, "big"
                )
                version = (job.version & ~mask) | (roll & mask) if mask else job.version
                header76 = job.header76(en2, job.ntime, version)
            count = max(1, min(int(self._hashrate * self.slice_seconds), (1 << 32) - nonce))
            target = difficulty_to_target(job.difficulty)
            started = time.monotonic()
            self._scanning = True
            try:
                found = await loop.run_in_executor(
                    None, hashing.scan_nonces, header76, target, nonce, count
                )
            finally:
                self._scanning = False
            nonce += count
            self.stats.hashes += count
            if self.job is not current and self.job is not None and self.job.clean:
                found = []  # the chain moved on while we hashed: those shares are stale
            for n in found:
                self.stats.shares_found += 1
                self._submit(client, job, en2, job.ntime, n, version if mask else None)
            await self._pace(count, started)

    async def _pace(self, count: int, started: float) -> None:
        """Wait until `count` hashes started at `started` fit the rate. A rate change
        re-times the wait (it does not end it: that would hash faster than the rate);
        pausing or stopping ends it."""
        while self._running and not self._paused:
            rate = self._hashrate
            pace = count / rate if rate > 0 else self.slice_seconds
            remaining = pace - (time.monotonic() - started)
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    def _submit(
        self,
        client: StratumClient,
        job: MiningJob,
        en2: bytes,
        ntime: int,
        nonce: int,
        version: int | None,
    ) -> None:
        params = [self.worker, job.job_id, en2.hex(), f"{ntime:08x}", f"{nonce:08x}"]
        if version is not None:
            params.append(f"{version & self.version_mask:08x}")
        task = asyncio.get_running_loop().create_task(
            self._await_share(client, params, job.difficulty)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _await_share(self, client: StratumClient, params: list, difficulty: float) -> None:
        try:
            msg = await client.request("mining.submit", params, timeout=30.0)
        except (TimeoutError, ConnectionError):
            return
        error = msg.get("error")
        if msg.get("result") is True and not error:
            self.stats.accepted += 1
            self.stats.difficulty_accepted += difficulty
            self.stats.last_accepted = time.time()
            ok = True
        else:
            code = error[0] if isinstance(error, list) and error else 20
            self.stats.rejected[code] = self.stats.rejected.get(code, 0) + 1
            ok = False
        if self.on_share is not None:
            self.on_share(ok, msg)

