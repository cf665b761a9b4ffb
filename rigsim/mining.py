"""A fleet mining through a pool: one Stratum miner per rig, following the rig's physics.

    miners = await attach(fleet, "stratum+tcp://127.0.0.1:3333")
    ...
    await miners.stop()

Each rig gets a `rigsim.miner.Miner` that connects from the rig's own loopback address
(so the pool sees one peer per rig, as on a real site), authorises as
`<worker_prefix>.<rig name>` and hashes real SHA-256d at
`rig.hashrate_ths * hashrate_scale` H/s. The rate follows the physics: a profile change
ramps it, derating lowers it, and a rig that sleeps, boots or shuts down hashes nothing.
State changes act at once (through the fleet's event hook); the ramp and thermal drift
are picked up by a periodic sync. The rig's `pools` reply (what pyasic and fleetd read)
is kept current from the miner's share counters.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from plumbing.lifecycle import cancel
from plumbing.netaddr import is_loopback_ip
from plumbing.redact import redact
from rigsim.fleet import Fleet, Rig, RigEvent
from rigsim.miner import Miner


class PoolUrlError(ValueError):
    """A pool URL that is not stratum+tcp://HOST:PORT."""


def parse_pool_url(url: str) -> tuple[str, int]:
    """`stratum+tcp://HOST:PORT` (or bare HOST:PORT) -> (host, port)."""
    parts = urlsplit(url if "://" in url else f"stratum+tcp://{url}")
    if parts.scheme not in ("stratum+tcp", "stratum", "tcp"):
        raise PoolUrlError(f"pool URL {redact(repr(url))}: expected stratum+tcp://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise PoolUrlError(f"pool URL {redact(repr(url))}: expected stratum+tcp://HOST:PORT")
    return parts.hostname, port


class FleetMiners:
    """Every rig of `fleet` mining on one pool (a rig group with its own `pool_url`
    mines there instead). Use `await attach(...)` or start()/stop()."""

    def __init__(
        self,
        fleet: Fleet,
        pool_url: str,
        *,
        hashrate_scale: float | None = None,
        sync_s: float = 0.5,
        bind_rig_address: bool = True,
    ) -> None:
        f = fleet.config.fleet
        self.fleet = fleet
        self.pool_url = pool_url
        self.host, self.port = parse_pool_url(pool_url)
        self.hashrate_scale = f.hashrate_scale if hashrate_scale is None else hashrate_scale
        self.sync_s = sync_s
        self.urls = [rig.pool_url or pool_url for rig in fleet.rigs]  # a group may have its own
        where = [parse_pool_url(u) for u in self.urls]
        self.miners: list[Miner] = [
            Miner(
                where[rig.index][0],
                where[rig.index][1],
                f"{f.worker_prefix}.{rig.name}",
                hashrate=1.0,
                version_rolling=f.version_rolling,
                slice_seconds=f.share_slice_s,
                user_agent=f"rigsim/{rig.model.key}",
                local_host=rig.address
                if bind_rig_address
                and is_loopback_ip(rig.address)
                and is_loopback_ip(where[rig.index][0])
                else None,
            )
            for rig in fleet.rigs
        ]
        self._unsubscribe: list = []
        self._task: asyncio.Task[None] | None = None

    def rate_for(self, rig: Rig) -> float:
        """Real H/s the rig's miner hashes at now (0 while it is not hashing)."""
        return rig.hashrate_ths * self.hashrate_scale if rig.is_hashing else 0.0

    def follow(self, rig: Rig) -> None:
        """Set rig's miner to what the physics says, and mirror its counters."""
        miner = self.miners[rig.index]
        rate = self.rate_for(rig)
        if rate > 0:
            miner.hashrate = rate
            if miner.paused:
                miner.resume()
        elif not miner.paused:
            miner.pause()
        status = rig.pool
        s = miner.stats
        status.url = self.urls[rig.index]
        status.user = miner.worker
        status.accepted = s.accepted
        status.rejected = sum(s.rejected.values())
        status.stale = s.rejected.get(21, 0)
        status.difficulty_accepted = s.difficulty_accepted
        status.last_share_time = s.last_accepted
        status.stratum_active = miner.connected.is_set()
        status.alive = miner.connected.is_set()

    def sync(self) -> None:
        for rig in self.fleet.rigs:
            self.follow(rig)

    def _on_event(self, event: RigEvent) -> None:
        self.follow(event.rig)

    async def start(self) -> None:
        self.sync()  # sleeping rigs start paused: they never hash a nonce
        for miner in self.miners:
            miner.start()
        self._unsubscribe.append(self.fleet.subscribe(self._on_event))
        self._task = asyncio.get_running_loop().create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            self.sync()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await cancel(self._task)
        self._task = None
        await asyncio.gather(*(m.stop() for m in self.miners))

    async def wait_connected(self, timeout: float = 30.0) -> None:
        """Until every miner has subscribed and authorised (sleeping ones included)."""
        await asyncio.wait_for(asyncio.gather(*(m.connected.wait() for m in self.miners)), timeout)


async def attach(fleet: Fleet, pool_url: str, **kw: Any) -> FleetMiners:
    """Start every rig of `fleet` mining on `pool_url`; returns the running FleetMiners."""
    miners = FleetMiners(fleet, pool_url, **kw)
    await miners.start()
    return miners
