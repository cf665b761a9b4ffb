"""The coordinator's synchronous core: the sites, their reports, the operator's actions,
the split, and the signed figure each site's feed serves. No sockets and no clock: every
call passes `now`; coordinator.daemon is the asyncio shell around it.

What a site is sent:
- during an emergency stop, 0 MW;
- otherwise its share of the portfolio (coordinator.split) by the configured policy,
  within its bounds, an operator's override pinning it.
Each change is recorded in the audit log as a command with its signal (what caused it),
and the state file is rewritten, so a restarted coordinator serves the same figures.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from coordinator.audit import AuditLog
from coordinator.config import ControlConfig
from coordinator.history import History
from coordinator.split import (
    SLEEP_W,
    SiteInput,
    SiteLimits,
    SiteReport,
    Split,
    bounds,
    split,
)
from coordinator.state import Override, State, Stop
from coordinator.verify import Rules, SiteVerify
from plumbing.escape import printable
from plumbing.openadr import Window, boundaries, figure_at
from plumbing.signing import sign

log = logging.getLogger("coordinator")
CHANGED_MW = 1e-6  # a smaller change of a site's figure is not a new command
JTH_ALPHA = 0.3  # weight of a new J/TH figure in the smoothed one
JTH_MIN_SHARE = 0.9  # learn J/TH only while the site hashes at this share of its peak
AHEAD_S = 3600.0  # announced steps (the grid's scheduled events) sent this far ahead
MAX_REASON = 256
CREDIT_INTERVAL_S = 900.0  # the regulator's report's intervals


@dataclass
class SiteView:
    """One configured site: its limits, its key, its last report."""

    name: str
    remote: str  # its name in its fleetd
    limits: SiteLimits
    priority: int
    weight: float
    key: bytes
    report: SiteReport | None = None
    report_at: float | None = None
    report_error: str = ""
    raw: dict[str, Any] | None = None  # fleetd's summary, as read
    pool_hs: float | None = None  # hashrate the pool credits the site's account (H/s)
    pool_from_workers: bool = False  # pool_hs is its own rigs' workers' (coordinator.verify)
    pool_at: float | None = None
    # the J/TH merit order uses: smoothed, and learnt only while the site hashes at 90 %
    # of its peak or more (a site that sheds, or wakes rigs that draw while they boot,
    # shows power without hashrate for a while; its live ratio would reorder the sites
    # on every cut)
    jth_rigs: float | None = None
    jth_pool: float | None = None
    peak_ths: float = 0.0
    peak_pool_hs: float = 0.0
    rigs: dict[str, Any] | None = None  # its rigs by family and state (coordinator.rigs_view)
    rigs_at: float | None = None
    verify: SiteVerify | None = None  # its rigs against the pool's workers ([pool])


def report_from_summary(summary: dict[str, Any]) -> SiteReport:
    """A SiteReport from fleetd's GET /sites/{site}: the meter's draw, what of it the rigs
    could shed (all but firm loads and the asleep rigs' own draw) and the J/TH at the
    meter. ValueError when a figure is missing or not finite."""

    def num(key: str) -> float:
        v = summary.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{key}: expected a number, got {printable(repr(v), 40)}")
        return float(v)

    site_kw, firm_kw, ths = num("site_kw"), num("firm_kw"), num("hashrate_ths")
    rigs = num("rigs")
    draw = max(0.0, site_kw / 1e3)
    sheddable = max(0.0, (site_kw - firm_kw) / 1e3 - rigs * SLEEP_W / 1e6)
    jth = site_kw * 1e3 / ths if ths > 0 and site_kw > 0 else None
    return SiteReport(draw, min(sheddable, draw), jth, max(0.0, ths))


def _smooth(old: float | None, new: float) -> float:
    return new if old is None else (1 - JTH_ALPHA) * old + JTH_ALPHA * new


class Coordinator:
    def __init__(
        self,
        config: ControlConfig,
        keys: dict[str, bytes],
        state: State,
        audit: AuditLog,
        *,
        save: Any = None,
    ) -> None:
        self.config = config
        self.state = state
        self.audit = audit
        self._save = save  # callable(state) -> None, or None (tests)
        c = config.control
        self.policy = c.policy
        self.sites: dict[str, SiteView] = {}
        for name, s in config.sites.items():
            weight = s.share if s.share is not None else s.licence_mw
            limits = SiteLimits(
                s.licence_mw, s.shed_s, s.ramp_up_mw_per_min, s.ramp_down_mw_per_min
            )
            self.sites[name] = SiteView(
                name, s.site or name, limits, s.priority, weight, keys[name]
            )
            p = config.pool
            if p is not None and s.pool_account:
                self.sites[name].verify = SiteVerify(
                    Rules(p.alpha, p.min_window_s, p.max_window_s, p.min_expected_shares,
                          p.max_ratio, p.hashes_per_th)
                )  # fmt: skip
        self.last_split: Split | None = None
        self.feeds_served: dict[str, int] = {n: 0 for n in self.sites}
        self.windows: dict[str, list[Window]] = {}  # the grid's events, by event id
        self.ahead: dict[str, list[tuple[float, float]]] = {n: [] for n in self.sites}
        self.history = History()
        # H/s the pool sees per TH/s (an emulated fleet hashes fewer; [pool] hashes_per_th)
        self.hashes_per_th = 1e12 if config.pool is None else config.pool.hashes_per_th
        # per site: [15-minute interval's start, TH credited in it so far, the running total]
        self.credited: dict[str, list[float]] = {}

    # ------------------------------------------------------------------ the grid

    def grid_windows(self) -> list[Window]:
        return [w for ws in self.windows.values() for w in ws]

    def portfolio_at(self, t: float) -> float:
        """The operator's portfolio, cut by the grid's events in force at `t`."""
        return figure_at(self.state.portfolio_mw, self.grid_windows(), t)

    def set_event(self, event_id: str, windows: list[Window], now: float, detail: str) -> None:
        """An event opted into (or updated): its windows apply from now on."""
        self.windows[event_id] = windows
        self.audit.write(
            "openadr",
            ts=now,
            event_id=event_id,
            opt="optIn",
            detail=detail,
            windows=[[w.start, w.end, w.kind, w.value] for w in windows],
        )
        self.resplit(now, f"openadr event {event_id}")

    def drop_event(self, event_id: str, now: float, why: str) -> None:
        if self.windows.pop(event_id, None) is not None:
            self.audit.write("openadr", ts=now, event_id=event_id, opt="dropped", detail=why)
            self.resplit(now, f"openadr event {event_id} {why}")

    def next_boundary(self, now: float) -> float | None:
        times = boundaries(self.grid_windows(), now, AHEAD_S)
        return times[0] if times else None

    # ------------------------------------------------------------------ reports

    def set_report(
        self, site: str, summary: dict[str, Any] | None, now: float, error: str = ""
    ) -> None:
        v = self.sites[site]
        if summary is None:
            v.report_error = error
            return
        try:
            v.report = report_from_summary(summary)
        except ValueError as exc:
            v.report_error = f"unusable report: {exc}"
            return
        v.raw, v.report_at, v.report_error = summary, now, ""
        r = v.report
        v.peak_ths = max(v.peak_ths, r.ths)
        if r.jth is not None and r.ths >= JTH_MIN_SHARE * v.peak_ths:
            v.jth_rigs = _smooth(v.jth_rigs, r.jth)

    def set_pool(self, site: str, hashrate_hs: float | None, now: float) -> None:
        """The hashrate the licensed pool credits the site's account (None: not read)."""
        v = self.sites[site]
        if hashrate_hs is None or not math.isfinite(hashrate_hs) or hashrate_hs < 0:
            return
        v.pool_hs, v.pool_at = hashrate_hs, now
        v.peak_pool_hs = max(v.peak_pool_hs, hashrate_hs)
        r = v.report
        hashing = hashrate_hs > 0 and hashrate_hs >= JTH_MIN_SHARE * v.peak_pool_hs
        if r is not None and r.draw_mw > 0 and hashing:
            v.jth_pool = _smooth(v.jth_pool, r.draw_mw * 1e6 / (hashrate_hs / self.hashes_per_th))

    def jth(self, v: SiteView, now: float) -> tuple[float | None, str]:
        """The site's J/TH for merit order, and where it is from: pool-verified (its
        metered draw over the hashrate the pool credits, while the pool's figure is
        fresh), else what its rigs claim (its meter over their reported hashrate). Both
        smoothed and learnt while the site hashes (see SiteView)."""
        fresh = v.pool_at is not None and now - v.pool_at <= 3 * self.config.control.interval_s
        if fresh and v.jth_pool is not None:
            return v.jth_pool, "pool"
        return v.jth_rigs, "rigs" if v.jth_rigs is not None else ""

    def sample(self, now: float) -> None:
        """One point of every site's chart: its allotment against its metered draw."""
        for n, v in self.sites.items():
            r = self.fresh_report(v, now)
            self.history.add(n, now, self.state.allotments.get(n), None if r is None else r.draw_mw)

    def note_credited(self, site: str, now: float) -> None:
        """Add what the pool credited the site since the last call to the 15-minute
        interval of `now` (a round's work lands in the interval it was read in: off by
        at most one [pool] every_s at a boundary), and write the interval that ended as a
        `credited` audit record (coordinator.report reads them back)."""
        v = self.sites[site]
        if v.verify is None:
            return
        total = v.verify.credited_th()
        start = math.floor(now / CREDIT_INTERVAL_S) * CREDIT_INTERVAL_S
        acc = self.credited.get(site)
        if acc is None:
            self.credited[site] = [start, 0.0, total]
            return
        if start != acc[0]:
            self.flush_credited(site, now)
            acc[0], acc[1] = start, 0.0
        acc[1] += max(0.0, total - acc[2])
        acc[2] = total

    def pending_credited(self) -> list[dict[str, Any]]:
        """The open intervals' credited work, as the records flush_credited writes."""
        return [
            {"site": n, "start": a[0], "end": a[0] + CREDIT_INTERVAL_S, "credited_th": a[1]}
            for n, a in self.credited.items()
            if a[1] > 0
        ]

    def flush_credited(self, site: str, now: float) -> None:
        """Write the site's open interval's credited work (at its end, or on stopping:
        the report adds records of one interval together)."""
        acc = self.credited.get(site)
        if acc is not None and acc[1] > 0:
            self.audit.write("credited", ts=now, site=site, start=acc[0],
                             end=acc[0] + CREDIT_INTERVAL_S, credited_th=acc[1])  # fmt: skip
            acc[1] = 0.0

    def fresh_report(self, v: SiteView, now: float) -> SiteReport | None:
        """A report no older than three intervals (an older one may mislead the bounds)."""
        if v.report is None or v.report_at is None:
            return None
        return v.report if now - v.report_at <= 3 * self.config.control.interval_s else None

    # ------------------------------------------------------------------ the split

    def _split_at(
        self, portfolio_mw: float, now: float, cut_within_s: float, since_s: float
    ) -> Split:
        st = self.state
        inputs = []
        for n, v in self.sites.items():
            o = st.override(n, now)
            lo, hi = bounds(
                v.limits,
                self.fresh_report(v, now),
                st.allotments.get(n),
                since_s,
                cut_within_s,
                None if o is None else o.mw,
            )
            inputs.append(SiteInput(n, lo, hi, v.weight, v.priority, self.jth(v, now)[0]))
        return split(portfolio_mw, inputs, self.policy)

    def resplit(self, now: float, signal: str) -> dict[str, float]:
        """Split the portfolio again (and the steps the grid announced); record and save
        what changed. Returns the figures."""
        st, c = self.state, self.config.control
        since = now - st.split_at if st.split_at else 0.0
        if st.stop is not None:
            new = {n: 0.0 for n in self.sites}
            self.last_split = Split(dict(new), bound={n: "stop" for n in self.sites})
            self.ahead = {n: [] for n in self.sites}
        else:
            portfolio = self.portfolio_at(now)
            self.last_split = self._split_at(portfolio, now, c.cut_within_s, since)
            new = dict(self.last_split.allotments)
            if self.last_split.shortfall_mw > 0:
                log.warning(
                    "the sites cannot get under the portfolio of %g MW within %g s: %.3f MW short",
                    portfolio,
                    c.cut_within_s,
                    self.last_split.shortfall_mw,
                )
            ahead: dict[str, list[tuple[float, float]]] = {n: [] for n in self.sites}
            for at in boundaries(self.grid_windows(), now, AHEAD_S):
                # the sites have until `at` to shed for a step the grid announced
                sp = self._split_at(
                    self.portfolio_at(at), now, max(c.cut_within_s, at - now), at - now
                )
                for n, mw in sp.allotments.items():
                    ahead[n].append((at, mw))
            self.ahead = ahead
        changed = {
            n: mw for n, mw in new.items() if abs(mw - st.allotments.get(n, -1.0)) > CHANGED_MW
        }
        st.split_at = now
        if changed:
            st.revision += 1
            self.audit.write_all(
                [
                    {
                        "ts": now,
                        "kind": "command",
                        "site": n,
                        "mw": mw,
                        "previous_mw": st.allotments.get(n),
                        "signal": signal,
                        "change_id": self.change_id(),
                        "policy": self.policy,
                        "bound": self.last_split.bound.get(n, ""),
                    }
                    for n, mw in changed.items()
                ]
            )
            st.allotments.update(new)
            self.save()
        return dict(st.allotments)

    def change_id(self) -> str:
        return f"control-{self.state.revision}"

    def save(self) -> None:
        if self._save is not None:
            self._save(self.state)

    # ------------------------------------------------------------------ the feed

    def feed(self, site: str, now: float) -> dict[str, str]:
        """The signed message for `site`'s feed: its figure, stamped now (a heartbeat, so
        a silent coordinator lets the site's feed go stale)."""
        v = self.sites[site]
        st = self.state
        seq = max(st.seq.get(site, 0) + 1, int(now * 1000))
        st.seq[site] = seq
        self.feeds_served[site] += 1
        mw = st.allotments.get(site)
        if mw is None:  # no split yet: what the site may draw at most is unknown; hold it
            mw = 0.0
        fields: dict[str, Any] = {"mw": mw, "as_of": now, "id": self.change_id()}
        steps = [{"at": at, "mw": m} for at, m in self.ahead.get(site, []) if at > now]
        if steps:
            fields["next"] = steps
        return sign(v.key, v.remote, seq, now, fields)

    # ------------------------------------------------------------------ actions

    def _act(self, action: str, by: str, reason: str, now: float, **detail: Any) -> None:
        self.audit.write("action", ts=now, action=action, by=by, reason=reason, **detail)
        log.warning(
            "%s by %r: %r %s", action, by, reason, " ".join(f"{k}={v!r}" for k, v in detail.items())
        )

    def set_portfolio(
        self, mw: float, by: str, reason: str, now: float, source: str = "operator"
    ) -> dict[str, float]:
        if not (math.isfinite(mw) and 0 <= mw <= 1e5):
            raise ValueError(f"mw: expected a finite figure in [0, 100000], got {mw!r}")
        reason = printable(reason, MAX_REASON)
        old = self.state.portfolio_mw
        self.state.portfolio_mw, self.state.portfolio_by, self.state.portfolio_at = mw, by, now
        self._act("portfolio", by, reason, now, mw=mw, previous_mw=old, source=source)
        return self.resplit(now, f"portfolio {mw:g} MW by {by} ({source})")

    def emergency_stop(self, by: str, reason: str, now: float) -> dict[str, float]:
        reason = printable(reason, MAX_REASON)
        self.state.stop = Stop(by, reason, now)
        self._act("emergency-stop", by, reason, now)
        return self.resplit(now, f"emergency stop by {by}")

    def resume(self, by: str, reason: str, now: float) -> dict[str, float]:
        reason = printable(reason, MAX_REASON)
        was = self.state.stop
        self.state.stop = None
        self._act("resume", by, reason, now, stopped_at=None if was is None else was.at)
        return self.resplit(now, f"resume by {by}")

    def set_override(
        self, site: str, mw: float, ttl_s: float, by: str, reason: str, now: float
    ) -> Override:
        v = self.sites[site]
        if not (math.isfinite(mw) and 0 <= mw <= v.limits.licence_mw):
            raise ValueError(
                f"mw: expected a figure in [0, {v.limits.licence_mw:g}] (the "
                f"site's licence), got {mw!r}"
            )
        if not (math.isfinite(ttl_s) and 0 < ttl_s <= 366 * 86400):
            raise ValueError(f"ttl_s: expected seconds in (0, 31622400], got {ttl_s!r}")
        reason = printable(reason, MAX_REASON)
        o = Override(mw, by, reason, now, now + ttl_s)
        self.state.overrides[site] = o
        self._act("override", by, reason, now, site=site, mw=mw, ttl_s=ttl_s)
        self.resplit(now, f"override {site} {mw:g} MW by {by}")
        return o

    def clear_override(self, site: str, by: str, now: float) -> bool:
        self.sites[site]  # KeyError for an unknown site
        old = self.state.overrides.pop(site, None)
        self._act("override-lifted", by, "", now, site=site, was=old is not None)
        self.resplit(now, f"override on {site} lifted by {by}")
        return old is not None

    # ------------------------------------------------------------------ status

    def status(self, now: float) -> dict[str, Any]:
        st, sp = self.state, self.last_split
        sites = []
        for n, v in self.sites.items():
            r = v.report
            o = st.override(n, now)
            sites.append(
                {
                    "name": n,
                    "fleetd_site": v.remote,
                    "licence_mw": v.limits.licence_mw,
                    "priority": v.priority,
                    "weight": v.weight,
                    "allotment_mw": st.allotments.get(n),
                    "draw_mw": None if r is None else r.draw_mw,
                    "sheddable_mw": None if r is None else r.sheddable_mw,
                    "jth": self.jth(v, now)[0],
                    "jth_source": self.jth(v, now)[1],
                    "jth_rigs": None if r is None else r.jth,
                    "pool_ths": None if v.pool_hs is None else v.pool_hs / self.hashes_per_th,
                    "report_age_s": None if v.report_at is None else now - v.report_at,
                    "report_error": v.report_error,
                    "bound": None if sp is None else sp.bound.get(n),
                    "override": None
                    if o is None
                    else {"mw": o.mw, "by": o.by, "expires_at": o.expires_at},
                    "emergency": None if v.raw is None else v.raw.get("emergency") is True,
                    "rigs": v.rigs,
                    "rigs_age_s": None if v.rigs_at is None else now - v.rigs_at,
                    "pool_verified": None
                    if v.verify is None
                    else v.verify.figures(None if r is None else r.draw_mw * 1e6),
                }
            )
        return {
            "at": now,
            "policy": self.policy,
            "portfolio_mw": st.portfolio_mw,
            "portfolio_now_mw": self.portfolio_at(now),
            "grid_events": {
                e: [[w.start, w.end, w.kind, w.value] for w in ws] for e, ws in self.windows.items()
            },
            "portfolio_by": st.portfolio_by,
            "revision": st.revision,
            "emergency": None
            if st.stop is None
            else {"by": st.stop.by, "reason": st.stop.reason, "at": st.stop.at},
            "shortfall_mw": 0.0 if sp is None else sp.shortfall_mw,
            "unallocated_mw": 0.0 if sp is None else sp.unallocated_mw,
            "sites": sites,
            "flagged": self.flagged(),
        }

    def flagged(self) -> list[dict[str, Any]] | None:
        """Rigs drawing power but credited far less than they claim (coordinator.verify);
        None when no site is checked against the pool."""
        checked = [v for v in self.sites.values() if v.verify is not None]
        if not checked:
            return None
        return [{"site": v.name} | f for v in checked for f in v.verify.flagged()]  # type: ignore[union-attr]
