"""The last hour of every site's allotment against its metered draw, in memory, for the
operator's console chart (GET /history). Pure: every call passes `now`.

Bounded twice: samples older than `span_s` are dropped, and a site keeps at most
`span_s / every_s` samples (a sample closer than `every_s` to the previous one replaces
it), so 10,000 sites sampled every second still hold 720 points each, not 3,600.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

SPAN_S = 3600.0
EVERY_S = 5.0


@dataclass
class History:
    span_s: float = SPAN_S
    every_s: float = EVERY_S
    # site -> (t, allotment MW or None, metered draw MW or None)
    samples: dict[str, deque[tuple[float, float | None, float | None]]] = field(
        default_factory=dict
    )

    @property
    def capacity(self) -> int:
        return max(2, math.ceil(self.span_s / self.every_s) + 1)

    def add(self, site: str, now: float, allotment_mw: float | None, draw_mw: float | None) -> None:
        q = self.samples.get(site)
        if q is None:
            q = self.samples[site] = deque(maxlen=self.capacity)
        sample = (now, _finite(allotment_mw), _finite(draw_mw))
        if len(q) > 1 and now - q[-2][0] < self.every_s:
            q[-1] = sample  # the latest replaces a sample closer than every_s to its elder
        else:
            q.append(sample)
        while q and q[0][0] < now - self.span_s:
            q.popleft()

    def series(self, now: float, since: float | None = None) -> dict[str, list[list[float | None]]]:
        """Every site's samples of the last span (or since `since`), oldest first."""
        start = now - self.span_s if since is None else max(since, now - self.span_s)
        return {
            site: [[t, a, d] for t, a, d in q if t >= start] for site, q in self.samples.items()
        }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
