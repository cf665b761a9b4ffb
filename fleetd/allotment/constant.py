"""A fixed allotment: the licence figure, or a floor under everything else."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetd.allotment.base import AllotmentReading, ScheduledChange, SourceStatus, check_mw


@dataclass
class ConstantSource:
    mw: float
    name: str = "constant"
    since: float = 0.0  # epoch seconds the figure has been valid from
    kind: str = field(default="constant", init=False)

    def __post_init__(self) -> None:
        self.mw = check_mw(f"allotment source {self.name!r}: mw", self.mw)

    def current(self, now: float) -> AllotmentReading:
        return AllotmentReading(self.mw, self.since, self.name, f"{self.name}:{self.mw:g}")

    def next_changes(self, now: float, horizon_s: float) -> list[ScheduledChange]:
        return []

    def status(self, now: float) -> SourceStatus:
        return SourceStatus(self.name, self.kind, self.mw, self.since, None, stale=False)
