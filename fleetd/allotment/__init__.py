"""Allotment sources: what each site may draw, from where, as of when.

    constant   ConstantSource(mw)
    schedule   ScheduleSource.from_file("day.csv", timezone="Europe/Oslo")
    live feed  HttpJsonFeed(name, url, ...), ZmqFeed(name, endpoint, ...): stale -> floor
    override   OverrideSource(): set(mw, now=..., ttl_s=...) / clear()
    the rule   effective(readings) -> Effective (min of what applies, and who bound it)
    a site     SiteAllotment(sources).effective(now) / .schedule(now, horizon_s)

fleetd.build makes a site's sources from its config.
"""

from fleetd.allotment.base import (
    AllotmentError,
    AllotmentReading,
    AllotmentSource,
    ScheduledChange,
    SourceStatus,
)
from fleetd.allotment.constant import ConstantSource
from fleetd.allotment.effective import Effective, SiteAllotment, effective, envelope
from fleetd.allotment.feed import FeedFields, FeedState, FeedValue, parse_message
from fleetd.allotment.live import HttpJsonFeed, ZmqFeed
from fleetd.allotment.override import Override, OverrideSource
from fleetd.allotment.schedule import ScheduleSource

__all__ = [
    "AllotmentError",
    "AllotmentReading",
    "AllotmentSource",
    "ConstantSource",
    "Effective",
    "FeedFields",
    "FeedState",
    "FeedValue",
    "HttpJsonFeed",
    "Override",
    "OverrideSource",
    "ScheduleSource",
    "ScheduledChange",
    "SiteAllotment",
    "SourceStatus",
    "ZmqFeed",
    "effective",
    "envelope",
    "parse_message",
]
