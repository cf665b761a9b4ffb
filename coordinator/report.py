"""The regulator's report across sites: per site and in total, for each 15-minute
interval, the allotment, the energy drawn, the time and energy above the allotment, and
the commands sent; and, for the sites checked against the licensed pool, the work it
credited them (`credited_th`, TH) and the energy over it (`jth_pool`, J/TH: energy
drawn over hashrate credited at the licensed pool). A pure function of what the sites
and the coordinator recorded.

Each site's rows are its own compliance report (fleetd.report, served by its fleetd at
GET /sites/{site}/report): built there from the site meter's readings against the
allotment in force at the site, at the meter's resolution. The coordinator adds, per site
and interval, the allotment changes it sent (its audit log's `command` records), beside
the commands the site's fleetd sent its rigs.

The total row of an interval sums the sites: allotment (MW, time-averaged), energy, and
the time above the allotment in *site-seconds* (two sites above for 10 s each is 20 s),
with the energy above summed likewise. A site whose report could not be had is listed
with its error and counts as not covered (`covered_s` 0): a gap is shown, never read as
zero energy.

Why CSV and JSON and no signed HTML or PDF: the regulator's systems take data, and both
formats are rebuilt from the sites' own audit logs at any time. A signature that means
something to a regulator needs the operator's asymmetric key and a key the regulator
trusts; an HMAC (what the feed uses) proves nothing to a third party, so signing the
report with it would only look like proof.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INTERVAL_S = 900.0
TOTAL = "TOTAL"

COLUMNS = (
    "start",
    "end",
    "site",
    "allotment_mw",
    "energy_kwh",
    "above_s",
    "above_kwh",
    "site_commands",
    "control_commands",
    "covered_s",
    "source",
    "credited_th",
    "jth_pool",
)
J_PER_KWH = 3.6e6


class ReportError(ValueError):
    """Bad arguments, or a site report that is not what fleetd serves."""


@dataclass
class Row:
    start: float
    end: float
    site: str
    allotment_mw: float | None = None
    energy_kwh: float = 0.0
    above_s: float = 0.0
    above_kwh: float = 0.0
    site_commands: int = 0
    control_commands: int = 0
    covered_s: float = 0.0
    source: str = ""
    credited_th: float | None = None  # work the licensed pool credited (TH); None: not checked
    checked_kwh: float = 0.0  # the energy of the sites the pool checks (for the ratio)

    @property
    def jth_pool(self) -> float | None:
        """Energy over the work the licensed pool credited (J/TH)."""
        if not self.credited_th:
            return None
        return self.checked_kwh * J_PER_KWH / self.credited_th

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "site": self.site,
            "allotment_mw": None if self.allotment_mw is None else round(self.allotment_mw, 6),
            "energy_kwh": round(self.energy_kwh, 4),
            "above_s": round(self.above_s, 3),
            "above_kwh": round(self.above_kwh, 6),
            "site_commands": self.site_commands,
            "control_commands": self.control_commands,
            "covered_s": round(self.covered_s, 1),
            "source": self.source,
            "credited_th": None if self.credited_th is None else round(self.credited_th, 6),
            "jth_pool": None if self.jth_pool is None else round(self.jth_pool, 3),
        }


@dataclass
class Report:
    since: float
    until: float
    starts: list[float]
    rows: dict[str, list[Row]]  # site -> one row per interval (TOTAL among them)
    errors: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _num(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(f"{where}: expected a number, got {value!r:.40}")
    return float(value)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _parse_time(text: Any, where: str) -> float:
    if not isinstance(text, str):
        raise ReportError(f"{where}: expected an ISO 8601 time")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ReportError(f"{where}: {text!r:.40} is not an ISO 8601 time") from None


def build(
    since: float,
    until: float,
    site_reports: Mapping[str, dict[str, Any] | None],
    control_commands: Iterable[dict[str, Any]],
    *,
    errors: Mapping[str, str] | None = None,
    interval_s: float = INTERVAL_S,
    credited: Iterable[dict[str, Any]] = (),
) -> Report:
    """The report over [since, until): `site_reports` maps each site to its fleetd's
    report object (None when it could not be had; `errors` says why), and
    `control_commands` are the coordinator's audit records of kind "command", `credited`
    those of kind "credited" (the work the licensed pool credited a site in an interval:
    the row's credited_th, and its energy over it, jth_pool)."""
    if not until > since:
        raise ReportError(f"to ({until}) must lie after from ({since})")
    first = math.floor(since / interval_s) * interval_s
    n = math.ceil((until - first) / interval_s)
    if n > 100_000:
        raise ReportError(f"{n} intervals requested; narrow from/to")
    starts = [first + k * interval_s for k in range(n)]
    index = {round(t): k for k, t in enumerate(starts)}
    report = Report(since, until, starts, {}, dict(errors or {}))
    for site, data in site_reports.items():
        rows = [Row(t, t + interval_s, site) for t in starts]
        report.rows[site] = rows
        if data is None:
            report.errors.setdefault(site, "no report")
            continue
        intervals = data.get("intervals")
        if not isinstance(intervals, list):
            raise ReportError(f"site {site!r}: expected a report with intervals")
        report.sources[site] = data.get("source", {})
        for i, item in enumerate(intervals):
            where = f"site {site!r}: intervals[{i}]"
            if not isinstance(item, dict):
                raise ReportError(f"{where}: expected an object")
            k = index.get(round(_parse_time(item.get("start"), f"{where}.start")))
            if k is None:
                continue
            r = rows[k]
            am = item.get("allotment_mw")
            r.allotment_mw = None if am is None else _num(am, f"{where}.allotment_mw")
            r.energy_kwh = _num(item.get("energy_kwh"), f"{where}.energy_kwh")
            r.above_s = _num(item.get("above_s"), f"{where}.above_s")
            r.above_kwh = _num(item.get("above_kwh"), f"{where}.above_kwh")
            r.site_commands = int(_num(item.get("commands"), f"{where}.commands"))
            r.covered_s = _num(item.get("covered_s"), f"{where}.covered_s")
            r.source = str(item.get("source", ""))[:32]
    for rec in control_commands:
        name, ts = rec.get("site"), rec.get("ts")
        if (
            not isinstance(name, str)
            or name not in report.rows
            or isinstance(ts, bool)
            or not isinstance(ts, int | float)
        ):
            continue
        k = int((ts - first) // interval_s)
        if 0 <= k < n:
            report.rows[name][k].control_commands += 1
    for rec in credited:
        name = rec.get("site")
        start, th = _finite(rec.get("start")), _finite(rec.get("credited_th"))
        if not isinstance(name, str) or name not in report.rows or start is None or th is None:
            continue
        k = int((start - first + 1.0) // interval_s)
        if 0 <= k < n and th >= 0:
            r = report.rows[name][k]
            r.credited_th = (r.credited_th or 0.0) + th
    for rows in report.rows.values():
        for r in rows:
            r.checked_kwh = r.energy_kwh if r.credited_th else 0.0
    total = [Row(t, t + interval_s, TOTAL) for t in starts]
    for k, t in enumerate(total):
        site_rows = [rows[k] for rows in report.rows.values()]
        allot = [r.allotment_mw for r in site_rows if r.allotment_mw is not None]
        t.allotment_mw = math.fsum(allot) if allot else None
        t.energy_kwh = math.fsum(r.energy_kwh for r in site_rows)
        t.above_s = math.fsum(r.above_s for r in site_rows)
        t.above_kwh = math.fsum(r.above_kwh for r in site_rows)
        t.site_commands = sum(r.site_commands for r in site_rows)
        t.control_commands = sum(r.control_commands for r in site_rows)
        t.covered_s = min((r.covered_s for r in site_rows), default=0.0)
        checked = [r for r in site_rows if r.credited_th]
        t.credited_th = math.fsum(r.credited_th or 0.0 for r in checked) if checked else None
        t.checked_kwh = math.fsum(r.checked_kwh for r in checked)
        t.source = "sum of the sites"
    report.rows[TOTAL] = total
    return report


def to_csv(report: Report) -> str:
    """One line per interval and site, the TOTAL line after each interval's sites."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for k in range(len(report.starts)):
        for rows in report.rows.values():
            d = rows[k].as_dict()
            w.writerow({c: ("" if d[c] is None else d[c]) for c in COLUMNS})
    return buf.getvalue()


def totals(rows: list[Row]) -> dict[str, Any]:
    credited = [r for r in rows if r.credited_th]
    th = math.fsum(r.credited_th or 0.0 for r in credited)
    kwh = math.fsum(r.checked_kwh for r in credited)
    return {
        "credited_th": round(th, 6) if credited else None,
        "jth_pool": round(kwh * J_PER_KWH / th, 3) if th > 0 else None,
        "energy_kwh": round(math.fsum(r.energy_kwh for r in rows), 4),
        "above_s": round(math.fsum(r.above_s for r in rows), 3),
        "above_kwh": round(math.fsum(r.above_kwh for r in rows), 6),
        "site_commands": sum(r.site_commands for r in rows),
        "control_commands": sum(r.control_commands for r in rows),
    }


def to_json(report: Report) -> str:
    sites = [s for s in report.rows if s != TOTAL]
    return json.dumps(
        {
            "from": report.since,
            "to": report.until,
            "interval_s": (report.rows[TOTAL][0].end - report.rows[TOTAL][0].start)
            if report.starts
            else INTERVAL_S,
            "sites": {
                s: {
                    "totals": totals(report.rows[s]),
                    "source": report.sources.get(s),
                    "error": report.errors.get(s),
                }
                for s in sites
            },
            "totals": totals(report.rows[TOTAL]),
            "total_above_note": "above_s of the total is in site-seconds",
            "intervals": [
                {
                    "start": _iso(t),
                    "end": _iso(t + (report.rows[TOTAL][k].end - t)),
                    "sites": {s: report.rows[s][k].as_dict() for s in sites},
                    "total": report.rows[TOTAL][k].as_dict(),
                }
                for k, t in enumerate(report.starts)
            ],
        },
        indent=2,
    )
