"""`surplus pool` once its config is loaded: run a PoolApp until told to stop.

Prints the lines scripts and tests wait for (`surplus pool: stratum listening on
HOST:PORT ...`, then where /metrics and the stats API are), stops on SIGINT/SIGTERM or
when the app ends by itself, and says that it is shutting down. Its own module so that
`pool.cli`, which builds the command line, imports no asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from pool.app import PoolApp
from pool.config import PoolConfig
from pool.stratum.slots import ProcessSlot

WORKER_READY = "ready"  # the word pool.cluster.supervisor waits for in a worker's line
WORKER_STATS = "stats API at"  # ... and what precedes its stats API's base URL


async def serve(
    config: PoolConfig, stop: asyncio.Event | None = None, slot: ProcessSlot | None = None
) -> None:
    """Run a pool until `stop` is set (or SIGINT/SIGTERM), then shut it down cleanly.
    `slot`: one worker of a cluster (pool.cluster), which reports to its supervisor in
    lines of its own instead."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with PoolApp(config, slot=slot) as app:
        host, port = app.stratum_address
        if slot is not None and slot.count > 1:
            print(f"surplus pool process {slot.index}: {WORKER_READY} on {host}:{port}, pid "
                  f"{os.getpid()}, extranonce1 prefix {slot.prefix.hex()}, mining height "
                  f"{app.stats.height}", flush=True)  # fmt: skip
            if app.metrics_url is not None:
                print(f"surplus pool process {slot.index}: metrics on {app.metrics_url}",
                      flush=True)  # fmt: skip
            if app.stats_url is not None:
                print(f"surplus pool process {slot.index}: {WORKER_STATS} {app.stats_url}",
                      flush=True)  # fmt: skip
            await _until_stopped(app, stop)
            return
        print(
            f"surplus pool: stratum listening on {host}:{port} "
            f"({config.mode} mode, {config.network}, "
            f"{'embedded devnet' if config.devnet else 'node'}, mining height {app.stats.height})",
            flush=True,
        )
        if app.metrics_url is not None:
            print(f"surplus pool: metrics on {app.metrics_url}", flush=True)
        if app.stats_url is not None:
            print(f"surplus pool: stats API on {app.stats_url}/api/v1/pool "
                  f"(OpenAPI: {app.stats_url}/openapi.json)", flush=True)  # fmt: skip
        await _until_stopped(app, stop)
        print("surplus pool: shutting down (miners are told to reconnect)", flush=True)


async def _until_stopped(app: PoolApp, stop: asyncio.Event) -> None:
    stopper = asyncio.ensure_future(stop.wait())
    watcher = asyncio.ensure_future(app.wait_closed())
    await asyncio.wait({stopper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopper, watcher):
        task.cancel()
