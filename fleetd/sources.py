"""A site's allotment sources, built from its config (fleetd.config.SiteConfig).

It sits above both: the config validates schedule files with fleetd.allotment, and the
allotment package knows nothing of the config's tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import zmq.asyncio

from fleetd.allotment.base import AllotmentSource
from fleetd.allotment.constant import ConstantSource
from fleetd.allotment.effective import SiteAllotment
from fleetd.allotment.feed import FeedFields
from fleetd.allotment.live import Clock, HttpJsonFeed, ZmqFeed
from fleetd.allotment.openadr import OpenAdrSource, VenSettings
from fleetd.allotment.override import OverrideSource
from fleetd.allotment.schedule import ScheduleSource
from fleetd.config import ConfigError, FeedFieldsConfig, FeedSigning, SiteConfig
from plumbing.signing import SigningError, Verifier, read_key


def _fields(f: FeedFieldsConfig) -> FeedFields:
    return FeedFields(mw=f.mw, as_of=f.as_of, change_id=f.id, next_changes=f.next, scale=f.scale)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def verifier(signing: FeedSigning | None, site: str, where: str) -> Verifier | None:
    """The feed's verifier, its key read now (ConfigError naming the key when unusable)."""
    if signing is None:
        return None
    try:
        key = read_key(env=signing.key_env, file=signing.key_file, where=f"{where}.signing")
    except SigningError as exc:
        raise ConfigError(str(exc)) from None
    return Verifier(key, signing.site or site, max_age_s=signing.max_age_s,
                    max_skew_s=signing.max_skew_s)  # fmt: skip


def build_site_allotment(
    site: SiteConfig,
    *,
    start_at: float | None = None,
    clock: Clock = time.time,
    zmq_context: zmq.asyncio.Context | None = None,
    name: str = "site",
) -> SiteAllotment:
    """The site's sources, in config order, plus the operator override (if enabled).

    `start_at` (default: now) is when a schedule with align = "start" begins. Live feeds
    are returned idle: run `feed.run()` for each of `SiteAllotment.feeds()`. A signed
    feed expects messages for `name` (the site's name) unless its signing.site says
    otherwise.
    """
    start = clock() if start_at is None else start_at
    sources: list[AllotmentSource] = []
    for i, a in enumerate(site.allotment):
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
                verifier=verifier(a.signing, name, f"allotment[{i}]"),
            )  # fmt: skip
            sources.append(feed)
        elif a.kind == "openadr":
            sources.append(OpenAdrSource(
                a.base_mw,
                VenSettings(a.vtn_url, a.ven_name, a.ven_id, _text(a.cert), _text(a.key),
                            a.vtn_fingerprint, _text(a.ca_file), a.retry_s,
                            a.report_every_s),
                name=a.name, levels=tuple(a.simple_levels), dispatch_unit=a.dispatch_unit,
                clock=clock,
            ))  # fmt: skip
        else:
            sub = ZmqFeed(
                a.name, a.endpoint, topic=a.topic, stale_after_s=a.stale_after_s,
                floor_mw=a.floor_mw, fields=_fields(a.fields), clock=clock,
                context=zmq_context, verifier=verifier(a.signing, name, f"allotment[{i}]"),
            )  # fmt: skip
            sources.append(sub)
    if site.override:
        sources.append(OverrideSource(max_duration_s=site.override_max_s))
    return SiteAllotment(sources)

