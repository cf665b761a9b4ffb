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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

from pool.ledger import frames, wire
from pool.ledger.errors import SharesNotStored
from pool.ledger.ledger import Ledger
from pool.ledger.remote import ROWS_PER_FRAME

log = logging.getLogger(__name__)

MAX_INFLIGHT = 256  # requests of one connection in progress at once
MAX_CONNECTIONS = 1024  # pool processes (256 at most) and their reconnects, with room


class WriterServer:
    def __init__(self, ledger: Ledger, path: Path, *, max_inflight: int = MAX_INFLIGHT,
                 max_rows: int = ROWS_PER_FRAME) -> None:  # fmt: skip
        self.ledger = ledger
        self.path = path
        self.max_inflight = max_inflight
        self.max_rows = max_rows
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.refused = 0  # connections closed for a protocol error

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
        send = asyncio.Lock()
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
                handler = asyncio.ensure_future(
                    self._handle(request_id, op, message, writer, send, slots)
                )
                handlers.add(handler)
                handler.add_done_callback(handlers.discard)
        finally:
            if handlers:  # committed whether or not the answer still has a reader
                await asyncio.gather(*handlers, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._connections.discard(task)

    def _refuse(self, exc: Exception) -> None:
        self.refused += 1
        log.warning("closing a connection that broke the protocol: %s",
                    str(exc)[:300])  # fmt: skip

    async def _handle(self, request_id: int, op: str, message: dict[str, Any],
                      writer: asyncio.StreamWriter, send: asyncio.Lock,
                      slots: asyncio.Semaphore) -> None:  # fmt: skip
        try:
            answer = await self._answer(request_id, op, message)
        except wire.WireError as exc:
            self._refuse(exc)
            writer.close()  # the reading loop ends with it
            return
        finally:
            slots.release()
        try:
            async with send:
                writer.write(frames.encode(answer))
                await writer.drain()
        except (OSError, RuntimeError):  # the process went away; its shares are committed
            pass

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

    @staticmethod
    def _error(request_id: int, what: str, exc: Exception) -> dict[str, Any]:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        log.error("a %s request failed: %s", what, reason)
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
