"""The ledger writer's socket: a Unix socket (mode 0600, in a 0700 directory) on which
the pool processes of a SQLite cluster hand their writes to the one process that owns
the ledger (pool.ledger.remote is the other end, pool.ledger.wire the messages).

Every request becomes a call on the writer's own `Ledger`: share batches from every
connection meet in its one group committer (one SQLite writer, one transaction per
batch), and an answer is written only once that call returned, so an acknowledged batch
is committed.

Bounds: a frame is at most pool.ledger.frames.MAX_FRAME bytes and a request at most
`max_rows` shares; each connection has at most `max_inflight` requests in progress: the
server stops reading from a connection that has that many, so a process that sends
faster than the ledger commits waits in its own socket buffer, not in the writer's
memory. A frame or message that breaks the protocol closes its connection, with a log
line saying why; the requests of that connection already in progress still complete.

Bans: a connection that asks for "bans" follows them. It is answered with the running
bans of the ledger's `bans` table, and from then on every ban another connection sends
is pushed to it as it arrives (before it is stored: the workers refuse the address at
once, the table serves who connects later). A push is written whole, never awaited; a
follower that stopped reading (its buffer over one frame) misses it, with a log line,
and reads the table when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pool.ledger import frames, wire
from pool.ledger.errors import SharesNotStored
from pool.ledger.ledger import Ledger
from pool.ledger.remote import ROWS_PER_FRAME

log = logging.getLogger(__name__)

MAX_INFLIGHT = 256  # requests of one connection in progress at once
MAX_CONNECTIONS = 1024  # pool processes (256 at most) and their reconnects, with room
DRAIN_TIMEOUT = 30.0  # seconds an answer may wait for its process to read it


@dataclass(eq=False)
class Peer:
    """One connection: where its answers (and pushes) are written."""

    writer: asyncio.StreamWriter
    send: asyncio.Lock = field(default_factory=asyncio.Lock)


class WriterServer:
    def __init__(self, ledger: Ledger, path: Path, *, max_inflight: int = MAX_INFLIGHT,
                 max_rows: int = ROWS_PER_FRAME) -> None:  # fmt: skip
        self.ledger = ledger
        self.path = path
        self.max_inflight = max_inflight
        self.max_rows = max_rows
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._followers: set[Peer] = set()  # connections that asked for the bans
        self.refused = 0  # connections closed for a protocol error
        self.in_flight = 0  # requests being handled now, over every connection
        self.requests: Counter[str] = Counter()  # by op, answered or not
        self.pushed = 0  # bans pushed to followers
        self.missed = 0  # ... and not pushed: the follower was not reading

    @property
    def connections(self) -> int:
        """Connections open now (the pool processes, one each)."""
        return len(self._connections)

    async def start(self) -> None:
        """Listen on `path` (a socket left by a writer that died is replaced; any other
        file there is an error), readable and writable by this user only."""
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(self.path).st_mode):
                raise FileExistsError(f"{self.path} exists and is not a socket")
            self.path.unlink()
        old = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=frames.HEADER + frames.MAX_FRAME
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= MAX_CONNECTIONS:
            log.error("refusing a connection: %d already open", MAX_CONNECTIONS)
            writer.close()
            return
        self._connections.add(task)
        slots = asyncio.Semaphore(self.max_inflight)
        peer = Peer(writer)
        handlers: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    message = await frames.read_frame(reader)
                    if message is None:
                        break
                    request_id = wire.request_id(message)
                    op = wire.request_op(message)
                except (frames.FrameError, wire.WireError) as exc:
                    self._refuse(exc)
                    break
                except OSError:
                    break
                await slots.acquire()
                self.requests[op] += 1
                self.in_flight += 1
                handler = asyncio.ensure_future(self._handle(request_id, op, message, peer, slots))
                handlers.add(handler)
                handler.add_done_callback(handlers.discard)
        finally:
            self._followers.discard(peer)
            if handlers:  # committed whether or not the answer still has a reader
                await asyncio.gather(*handlers, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._connections.discard(task)

    def _refuse(self, exc: Exception) -> None:
        self.refused += 1
        log.warning("closing a connection that broke the protocol: %r",
                    str(exc)[:300])  # fmt: skip

    async def _handle(self, request_id: int, op: str, message: dict[str, Any], peer: Peer,
                      slots: asyncio.Semaphore) -> None:  # fmt: skip
        writer = peer.writer
        try:  # the slot is this request's until its answer is written: a peer that stops
            # reading stops being read, rather than piling answers up here
            try:
                if op in ("ban", "bans"):
                    answer = await self._bans(request_id, op, message, peer)
                else:
                    answer = await self._answer(request_id, op, message)
            except wire.WireError as exc:
                self._refuse(exc)
                writer.close()  # the reading loop ends with it
                return
            try:
                async with peer.send:
                    writer.write(frames.encode(answer))
                    await asyncio.wait_for(writer.drain(), DRAIN_TIMEOUT)
            except TimeoutError:
                log.warning("closing a connection that has not read its answers for %g s",
                            DRAIN_TIMEOUT)  # fmt: skip
                writer.close()
            except (OSError, RuntimeError):  # the process went away; its shares are committed
                pass
        finally:
            slots.release()
            self.in_flight -= 1

    async def _answer(self, request_id: int, op: str, message: dict[str, Any]) -> dict[str, Any]:
        """What the ledger says to one request; a failure of the ledger itself (not of
        the message) is an `error` answer: nothing of it is stored."""
        ledger = self.ledger
        if op == "shares":
            shares = wire.shares_of(message, self.max_rows)
            try:
                return {"id": request_id, "ids": await ledger.record_shares(shares)}
            except SharesNotStored as exc:
                return {"id": request_id, "ids": exc.ids,
                        "reasons": {str(k): v for k, v in exc.reasons.items()}}  # fmt: skip
            except Exception as exc:
                return self._error(request_id, "shares", exc)
        if op == "network":
            height, difficulty, subsidy, fees = wire.network_of(message)
            try:
                await ledger.record_network(height, difficulty, subsidy, fees)
            except Exception as exc:
                return self._error(request_id, "network", exc)
            return {"id": request_id}
        found = wire.found_block_of(message)
        try:
            row = await ledger.record_block(found)
        except Exception as exc:
            return self._error(request_id, "block", exc)
        return {"id": request_id, "block": wire.block_row_answer(row)}

    async def _bans(self, request_id: int, op: str, message: dict[str, Any],
                    peer: Peer) -> dict[str, Any]:  # fmt: skip
        """A ban to push and store, or a connection that follows the bans from now on."""
        if op == "bans":
            self._followers.add(peer)  # first: a ban arriving during the read is pushed
            try:
                return wire.bans_answer(request_id,
                                        await self.ledger.running_bans(wire.MAX_RUNNING_BANS))
            except Exception as exc:
                return self._error(request_id, "bans", exc)
        key, until, reason, node = wire.ban_of(message)
        self._push(wire.ban_push(key, until), but=peer)
        try:
            await self.ledger.record_ban(key, until, reason, node)
        except Exception as exc:  # pushed all the same: only later connections miss it
            return self._error(request_id, "ban", exc)
        return {"id": request_id}

    def _push(self, message: dict[str, Any], but: Peer) -> None:
        """`message` to every follower but `but`, written whole (frames never interleave:
        a write is one call) and never awaited, so no follower holds up the others."""
        frame = frames.encode(message)
        for peer in list(self._followers):
            writer = peer.writer
            if peer is but or writer.is_closing():
                continue
            if writer.transport.get_write_buffer_size() > frames.MAX_FRAME:
                self.missed += 1
                log.warning("a pool process is not reading its connection: it misses a ban "
                            "(it reads the running bans when it reconnects)")  # fmt: skip
                continue
            writer.write(frame)
            self.pushed += 1

    @staticmethod
    def _error(request_id: int, what: str, exc: Exception) -> dict[str, Any]:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        log.error("a %s request failed: %r", what, reason)
        return {"id": request_id, "error": reason}

    async def close(self) -> None:
        """Stop accepting; let the requests in progress finish (their batches commit and
        are answered); remove the socket."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()  # waiting for a next frame: its handlers still finish (finally)
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
