"""A site's allotment sources, built from its config (fleetd.config.SiteConfig).

It sits above both: the config validates schedule files with fleetd.allotment, and the
allotment package knows nothing of the config's tables.
"""

from __future__ import annotations

import time

import zmq.asyncio

from fleetd.allotment.base import AllotmentSource
from fleetd.allotment.constant import ConstantSource
from fleetd.allotment.effective import SiteAllotment
from fleetd.allotment.feed import FeedFields
from fleetd.allotment.live import Clock, HttpJsonFeed, ZmqFeed
from fleetd.allotment.override import OverrideSource
from fleetd.allotment.schedule import ScheduleSource
from fleetd.config import FeedFieldsConfig, SiteConfig


def _fields(f: FeedFieldsConfig) -> FeedFields:
    return FeedFields(mw=f.mw, as_of=f.as_of, change_id=f.id, next_changes=f.next, scale=f.scale)


def build_site_allotment(
    site: SiteConfig,
    *,
    start_at: float | None = None,
    clock: Clock = time.time,
    zmq_context: zmq.asyncio.Context | None = None,
) -> SiteAllotment:
    """The site's sources, in config order, plus the operator override (if enabled).

    `start_at` (default: now) is when a schedule with align = "start" begins. Live feeds
    are returned idle: run `feed.run()` for each of `SiteAllotment.feeds()`.
    """
    start = clock() if start_at is None else start_at
    sources: list[AllotmentSource] = []
    for a in site.allotment:
        if a.kind == "constant":
            sources.append(ConstantSource(a.mw, name=a.name))
        elif a.kind == "schedule":
            sched = ScheduleSource.from_file(
                a.file, name=a.name, timezone=a.timezone, repeat_s=a.repeat_s
            )
            if a.compress != 1.0 or a.align == "start":
                at = start if a.align == "start" else sched.times[0]
                sched = sched.compressed(a.compress, at)
            sources.append(sched)
        elif a.kind == "http_json":
            feed = HttpJsonFeed(
                a.name, a.url, interval_s=a.interval_s, timeout_s=a.timeout_s,
                stale_after_s=a.stale_after_s, floor_mw=a.floor_mw,
                fields=_fields(a.fields), headers=a.headers, clock=clock,
            )  # fmt: skip
            sources.append(feed)
        else:
            sub = ZmqFeed(
                a.name, a.endpoint, topic=a.topic, stale_after_s=a.stale_after_s,
                floor_mw=a.floor_mw, fields=_fields(a.fields), clock=clock,
                context=zmq_context,
            )  # fmt: skip
            sources.append(sub)
    if site.override:
        sources.append(OverrideSource(max_duration_s=site.override_max_s))
    return SiteAllotment(sources)

