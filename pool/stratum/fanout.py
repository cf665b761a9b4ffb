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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# (session, fd, data); `session` is opaque here, only given back for leftovers.
Write = tuple[Any, int, bytes]


def raw_writes(writes: Sequence[Write]) -> list[tuple[Any, bytes]]:
    """os.write each item once; returns what was not fully written, with the rest."""
    leftovers = []
    for session, fd, data in writes:
        try:
            n = os.write(fd, data)
        except OSError:  # EAGAIN, or a dead peer: the transport will see to it
            n = 0
        if n < len(data):
            leftovers.append((session, data[n:]))
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

    def write(self, writes: list[Write]) -> list[tuple[Any, bytes]]:
        """Write everything; returns leftovers for the caller's transport.write."""
        if self._pool is None or len(writes) < self.min_parallel:
            return raw_writes(writes)
        size = -(-len(writes) // self.threads)
        chunks = [writes[i : i + size] for i in range(0, len(writes), size)]
        futures = [self._pool.submit(raw_writes, chunk) for chunk in chunks[1:]]
        leftovers = raw_writes(chunks[0])
        for future in futures:
            leftovers.extend(future.result())
        return leftovers

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
