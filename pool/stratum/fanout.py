"""Writing one new job to thousands of connections at once.

On loopback and on real NICs alike, the cost of a fan-out is the send() system call per
connection (several microseconds each: the kernel does the TCP work in the caller), not
Python. Those calls release the GIL, so the writes are spread over a few threads: the
event loop thread prepares every session's bytes (bookkeeping only), then it and the
writer threads each write a slice of the connections straight to their sockets.

Writing around the transport is safe exactly when the transport has nothing queued (its
write buffer is empty, so the loop is not watching the socket for writability) and the
loop is not running meanwhile: this all happens inside one synchronous callback of the
loop, which waits for the writer threads before returning. Anything a socket does not
take at once (a full socket buffer, an error) goes to `transport.write` afterwards, in
order, and the transport handles it as usual (buffering, pause_writing, errors).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Batch:
    """The direct writes of one fan-out as parallel lists (no tuple per connection):
    the fd to write, the bytes, and the owner whose transport gets what is left."""

    __slots__ = ("data", "fds", "owners")

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.data: list[bytes] = []
        self.owners: list[Any] = []  # opaque here, only given back for leftovers

    def __len__(self) -> int:
        return len(self.fds)


def raw_writes(batch: Batch, start: int, stop: int) -> list[tuple[Any, bytes]]:
    """os.write items start..stop-1 once; returns what was not fully written, with the
    rest (owner, bytes), in order."""
    write = os.write
    fds, data = batch.fds, batch.data
    leftovers = []
    for i in range(start, stop):
        item = data[i]
        try:
            n = write(fds[i], item)
        except OSError:  # EAGAIN, or a dead peer: the transport will see to it
            n = 0
        if n < len(item):
            leftovers.append((batch.owners[i], item[n:]))
    return leftovers


class FanoutWriter:
    """Parallel direct writes for large fan-outs; small ones use the transports."""

    def __init__(self, threads: int, min_parallel: int = 256) -> None:
        self.threads = max(1, threads)
        self.min_parallel = min_parallel
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="fanout")
            if self.threads > 1
            else None
        )

    def write(self, batch: Batch) -> list[tuple[Any, bytes]]:
        """Write everything; returns leftovers for the caller's transport.write."""
        count = len(batch)
        if self._pool is None or count < self.min_parallel:
            return raw_writes(batch, 0, count)
        size = -(-count // self.threads)
        futures = [self._pool.submit(raw_writes, batch, i, min(count, i + size))
                   for i in range(size, count, size)]  # fmt: skip
        leftovers = raw_writes(batch, 0, size)
        for future in futures:
            leftovers.extend(future.result())
        return leftovers

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
