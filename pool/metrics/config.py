"""``[metrics]`` of the pool's file: the shared listen table (plumbing.listen) and the
knobs of the pool's per-worker series."""

from __future__ import annotations

from pydantic import Field

from plumbing.listen import ListenTable, LoopbackListen


class MetricsSection(ListenTable):
    """``[metrics]``: where the pool serves Prometheus ``/metrics`` (loopback only; the
    address configs/prometheus.yml scrapes is 127.0.0.1:9101). Absent or
    ``enabled = false``: off."""

    listen: LoopbackListen = Field("127.0.0.1:9101", description="HOST:PORT; port 0 picks a "
                                   "free port")  # fmt: skip
    top_workers: int = Field(50, ge=0, le=10_000, description="per-worker series, at most")
    worker_window_s: float = Field(600.0, gt=0, description="hashrate estimate window")
    max_tracked_workers: int = Field(
        100_000, ge=1,
        description="workers kept for hashrate and the stats API; the longest silent goes first",
    )
