"""The compliance report a regulator asks for: per 15-minute interval, the allotment, the
energy drawn, the seconds and energy above the allotment in force, the seconds and energy
above fleetd's own fallback floor while a stale feed's floor bound (kept apart: that is
fleetd being careful, not a breach, when the allotment in force was higher), the commands
sent, and where the power figures come from: the site meter's readings (with their
sampling interval) or fleetd's estimate (fleetd.compliance).

Built from the controller's per-cycle samples (fleetd.control.samples) and the audit log
(fleetd.audit): a sample covering [t0, t1) is shared out over the intervals it overlaps in
proportion to the overlap; commands are counted from the audit log where they were
recorded one by one. `covered_s` says how much of each interval the samples cover, so a
gap (fleetd down) is visible rather than read as zero energy.

    rows = build_report(audit_path, site="north", since=t0, until=t1)
    print(to_csv(rows))   # or to_json(rows, site=..., since=..., until=...)
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fleetd.audit import read_audit
from fleetd.compliance import source_name
from fleetd.control.samples import read_samples, samples_path_for
from plumbing import when

INTERVAL_S = 900.0
J_PER_KWH = 3.6e6


class ReportError(ValueError):
    """Bad report arguments (named)."""


@dataclass
class IntervalRow:
    start: float
    end: float
    covered_s: float = 0.0
    allotment_ws: float = 0.0  # integral, for the time average
    allotment_min_w: float = math.inf
    energy_j: float = 0.0
    above_s: float = 0.0  # above the allotment in force
    above_j: float = 0.0
    above_floor_s: float = 0.0  # above fleetd's stale-feed floor while it bound
    above_floor_j: float = 0.0
    meter_s: float = 0.0  # seconds the meter's readings cover
    estimate_s: float = 0.0  # ... and fleetd's estimate
    readings: float = 0.0  # meter readings (shared out like the rest)
    max_gap_s: float = 0.0  # longest time one reading stood for
    commands: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    @property
    def source(self) -> str:
        """"meter", "estimate", "meter+estimate", or "" for an interval no sample covers."""
        return source_name(self.meter_s, self.estimate_s)

    @property
    def sampling_s(self) -> float | None:
        return self.meter_s / self.readings if self.readings > 0 else None

    @property
    def allotment_mw(self) -> float | None:
        return None if self.covered_s <= 0 else self.allotment_ws / self.covered_s / 1e6

    def as_dict(self) -> dict[str, object]:
        iso = datetime.fromtimestamp(self.start, UTC).isoformat().replace("+00:00", "Z")
        iso_end = datetime.fromtimestamp(self.end, UTC).isoformat().replace("+00:00", "Z")
        am = self.allotment_mw
        return {
            "start": iso, "end": iso_end,
            "allotment_mw": None if am is None else round(am, 6),
            "allotment_min_mw": None if math.isinf(self.allotment_min_w)
            else round(self.allotment_min_w / 1e6, 6),
            "energy_kwh": round(self.energy_j / J_PER_KWH, 4),
            "above_s": round(self.above_s, 3),
            "above_kwh": round(self.above_j / J_PER_KWH, 6),
            "above_floor_s": round(self.above_floor_s, 3),
            "above_floor_kwh": round(self.above_floor_j / J_PER_KWH, 6),
            "source": self.source,
            "sampling_s": None if self.sampling_s is None else round(self.sampling_s, 3),
            "max_gap_s": round(self.max_gap_s, 3) if self.meter_s > 0 else None,
            "commands": sum(self.commands.values()),
            "commands_by_kind": dict(sorted(self.commands.items())),
            "commands_failed": self.failed,
            "covered_s": round(self.covered_s, 1),
        }  # fmt: skip


COLUMNS = (
    "start", "end", "allotment_mw", "allotment_min_mw", "energy_kwh", "above_s", "above_kwh",
    "above_floor_s", "above_floor_kwh", "source", "sampling_s", "max_gap_s", "commands",
    "commands_failed", "covered_s",
)  # fmt: skip


def parse_when(text: str, what: str) -> float:
    """Epoch seconds, or an ISO 8601 time with a UTC offset ("2025-06-01T00:00:00Z")."""
    try:
        return when.parse_when(text, what)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def build_report(
    audit_path: str | Path,
    *,
    site: str,
    since: float,
    until: float,
    interval_s: float = INTERVAL_S,
    samples_path: str | Path | None = None,
) -> list[IntervalRow]:
    if not until > since:
        raise ReportError(f"--to ({until}) must lie after --from ({since})")
    if interval_s <= 0:
        raise ReportError("interval_s must be > 0")
    first = math.floor(since / interval_s) * interval_s
    n = math.ceil((until - first) / interval_s)
    if n > 1_000_000:
        raise ReportError(f"{n} intervals requested; narrow --from/--to")
    rows = [IntervalRow(first + k * interval_s, first + (k + 1) * interval_s) for k in range(n)]
    spath = Path(samples_path) if samples_path is not None else samples_path_for(audit_path)
    if spath.exists():
        for s in read_samples(spath, site=site, since=first, until=rows[-1].end):
            _spread(rows, s, first, interval_s)
    apath = Path(audit_path)
    if apath.exists():
        for rec in read_audit(apath, site=site, since=first, until=rows[-1].end,
                              kinds=("command",)):  # fmt: skip
            k = int((rec.ts - first) // interval_s)
            if 0 <= k < n:
                kind = (rec.command or "?").split(":")[0]
                rows[k].commands[kind] += 1
                if rec.ok is False:
                    rows[k].failed += 1
    return rows


def _spread(rows: list[IntervalRow], s: dict, first: float, interval_s: float) -> None:
    t0, t1 = float(s["t0"]), float(s["t1"])
    span = t1 - t0
    if span <= 0:
        return
    k0 = max(0, int((t0 - first) // interval_s))
    k1 = min(len(rows) - 1, int((t1 - first) // interval_s))
    above_s = float(s.get("above_s", 0.0))
    # samples written before the meter's readings were used carry no source: estimate
    meter_s = float(s.get("meter_s", 0.0))
    estimate_s = float(s.get("estimate_s", span - meter_s))
    for k in range(k0, k1 + 1):
        r = rows[k]
        overlap = min(t1, r.end) - max(t0, r.start)
        if overlap <= 0:
            continue
        f = overlap / span
        r.covered_s += overlap
        r.energy_j += float(s["energy_j"]) * f
        r.above_s += above_s * f
        r.above_j += float(s.get("above_j", 0.0)) * f
        r.above_floor_s += float(s.get("above_floor_s", 0.0)) * f
        r.above_floor_j += float(s.get("above_floor_j", 0.0)) * f
        r.meter_s += meter_s * f
        r.estimate_s += estimate_s * f
        r.readings += float(s.get("readings", 0)) * f
        r.max_gap_s = max(r.max_gap_s, float(s.get("max_gap_s", 0.0)))
        r.allotment_ws += float(s["allotment_w"]) * overlap
        low = s.get("allotment_min_w")
        r.allotment_min_w = min(r.allotment_min_w, float(s["allotment_w"] if low is None else low))


def to_csv(rows: list[IntervalRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        d = r.as_dict()
        w.writerow({k: ("" if d[k] is None else d[k]) for k in COLUMNS})
    return buf.getvalue()


def source_of(rows: list[IntervalRow]) -> dict[str, object]:
    """Where the report's power figures come from, and the meter's sampling interval."""
    meter_s = sum(r.meter_s for r in rows)
    estimate_s = sum(r.estimate_s for r in rows)
    readings = sum(r.readings for r in rows)
    if meter_s > 0:
        every = meter_s / readings if readings > 0 else None
        text = "site meter readings, each held until the next and set against the " \
            "allotment in force when it was taken"  # fmt: skip
        if every is not None:
            text += f"; one every {every:.2f} s on average"
        if estimate_s > 0:
            text += f"; fleetd's estimate for {estimate_s:.1f} s while the meter was silent"
    else:
        every = None
        text = "fleetd's estimate (the rigs' own figures, overhead and firm loads): no meter"
    return {
        "power": source_name(meter_s, estimate_s) or "estimate",
        "description": text, "meter_s": round(meter_s, 3), "estimate_s": round(estimate_s, 3),
        "readings": round(readings), "sampling_s": None if every is None else round(every, 3),
        "max_gap_s": round(max((r.max_gap_s for r in rows), default=0.0), 3),
    }  # fmt: skip


def to_json(rows: list[IntervalRow], *, site: str, since: float, until: float) -> str:
    total_above = sum(r.above_j for r in rows) / J_PER_KWH
    return json.dumps({
        "site": site, "from": since, "to": until, "interval_s": rows[0].end - rows[0].start
        if rows else INTERVAL_S,
        "source": source_of(rows),
        "totals": {
            "energy_kwh": round(sum(r.energy_j for r in rows) / J_PER_KWH, 4),
            "above_s": round(sum(r.above_s for r in rows), 3),
            "above_kwh": round(total_above, 6),
            "above_floor_s": round(sum(r.above_floor_s for r in rows), 3),
            "above_floor_kwh": round(sum(r.above_floor_j for r in rows) / J_PER_KWH, 6),
            "commands": sum(sum(r.commands.values()) for r in rows),
        },
        "intervals": [r.as_dict() for r in rows],
    }, indent=2)  # fmt: skip
