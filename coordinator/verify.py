"""Energy the pool can vouch for: each rig's power against the work the licensed pool
credited its worker, and the rigs that draw power but are credited far less than they
claim. Pure: every call passes `now`; coordinator.daemon feeds it each site's fleetd rig
readings (GET /sites/{site}/rigs) and the pool's worker counters (pool.stats_api's
GET /api/v1/workers?account=A).

The test (stated in the README). A worker's accepted shares over a window are a Poisson
count: a share of difficulty d takes d * 2^32 hashes on average, so a rig hashing at its
claimed rate H (H/s) for dt seconds at difficulty d yields on average

    lambda = sum over the window of H * dt / (d * 2^32)

shares. With k shares credited, the rig is flagged when all of these hold:
- the window is at least `min_window_s` long, during which the rig drew power (more than
  DRAWING_W) and claimed hashrate without a gap in the readings;
- lambda >= `min_expected_shares` (so a low-rate rig waits for a long enough window: at
  alpha = 1e-6 even k = 0 is significant only from lambda > ln(1/alpha) = 13.8);
- k < `max_ratio` * lambda (credited far less: a rig 10 % slow is not flagged however
  long it is watched);
- P(X <= k | lambda) < `alpha` (the Poisson lower tail, in logs: no overflow at any k).
The window is the longest run of drawing readings up to `max_window_s`. A verdict
comes from a conclusive window only (long enough, enough expected shares): a flagged rig
stays flagged while it sleeps (fleetd may shed it first), and a rig that recovers is
cleared by its next conclusive window. The difficulty d is the worker's own connection
difficulty at the pool; for a worker the pool does not see (mining elsewhere), the
highest of its site's workers' difficulties of the same model (else of any model): the
largest d gives the smallest lambda, so the unknown is resolved against flagging. A
reading without any difficulty known ends the window.

Credited hashrate: the sum of the accepted shares' difficulties over the window times
2^32 over its length. Pool-verified J/TH: watts over credited TH/s, per site (its meter)
and per model (its rigs' readings), beside the J/TH the rigs claim (watts over their own
reported TH/s).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from plumbing.escape import printable

TWO_32 = float(2**32)
DRAWING_W = 100.0  # a rig drawing more than this is awake (asleep ones draw 25-30 W)
MAX_RIGS = 100_000  # rigs watched per site (a hostile fleetd cannot grow memory further)


def poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam), summed in logs (exact for the k the test meets)."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    log_lam = math.log(lam)
    terms = [i * log_lam - lam - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(frozen=True)
class Rules:
    alpha: float = 1e-6
    min_window_s: float = 600.0
    max_window_s: float = 3600.0
    min_expected_shares: float = 20.0
    max_ratio: float = 0.5
    hashes_per_th: float = 1e12  # H/s the pool sees per TH/s a rig claims (rigsim: fewer)


@dataclass(frozen=True)
class Reading:
    """One round: what fleetd read of the rig, and what the pool says of its worker."""

    t: float
    watts: float | None
    claimed_ths: float | None
    shares: int | None  # the worker's accepted shares (cumulative), None: unknown at the pool
    difficulty_sum: float | None  # the summed difficulty of those shares
    difficulty: float | None  # its connection's share difficulty now


@dataclass
class RigWatch:
    """One rig's readings as running totals: t, shares, credited difficulty, expected
    shares, energy (J), claimed hashes; only drawing spans count."""

    name: str
    model: str
    worker: str
    points: deque[tuple[float, int, float, float, float, float]] = field(default_factory=deque)
    last: Reading | None = None
    base_shares: int = 0  # our own cumulative count across the pool's counter resets
    base_diff: float = 0.0
    seen_shares: int | None = None
    seen_diff: float | None = None
    verdict: dict[str, Any] = field(default_factory=dict)

    def add(self, r: Reading, fallback_difficulty: float | None, rules: Rules) -> None:
        shares, diff = self._cumulative(r)
        prev = self.last
        drawing = (r.watts or 0.0) > DRAWING_W and (r.claimed_ths or 0.0) > 0
        d = r.difficulty or (prev.difficulty if prev is not None else None) or fallback_difficulty
        if not drawing or prev is None or not self.points or not d:
            # a window is a run of readings with the rig drawing and its difficulty known
            self.points.clear()
            if drawing and d:
                self.points.append((r.t, shares, diff, 0.0, 0.0, 0.0))
        else:
            dt = max(0.0, r.t - prev.t)
            ths = 0.5 * ((prev.claimed_ths or 0.0) + (r.claimed_ths or 0.0))
            lam = ths * rules.hashes_per_th * dt / (d * TWO_32)
            _, _, _, lam0, e0, h0 = self.points[-1]
            joules = 0.5 * ((prev.watts or 0.0) + (r.watts or 0.0)) * dt
            self.points.append((r.t, shares, diff, lam0 + lam, e0 + joules, h0 + ths * dt))
            while len(self.points) > 2 and r.t - self.points[1][0] >= rules.max_window_s:
                self.points.popleft()
        self.last = r
        self.verdict = self._judge(r, rules)

    def _cumulative(self, r: Reading) -> tuple[int, float]:
        """Our own running count from the pool's counters (which restart when the pool
        forgets an idle worker: a drop is a restart, not negative work)."""
        if r.shares is None or r.difficulty_sum is None:
            return self.base_shares, self.base_diff
        if self.seen_shares is None or self.seen_diff is None:
            self.seen_shares, self.seen_diff = r.shares, r.difficulty_sum
        if r.shares < self.seen_shares or r.difficulty_sum < self.seen_diff:
            self.seen_shares, self.seen_diff = 0, 0.0
        self.base_shares += r.shares - self.seen_shares
        self.base_diff += r.difficulty_sum - self.seen_diff
        self.seen_shares, self.seen_diff = r.shares, r.difficulty_sum
        return self.base_shares, self.base_diff

    def span(self) -> tuple[float, int, float, float, float, float] | None:
        """(seconds, shares, difficulty, expected shares, joules, claimed TH) of the
        window, or None without two drawing readings."""
        if len(self.points) < 2:
            return None
        a, b = self.points[0], self.points[-1]
        return (b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3], b[4] - a[4], b[5] - a[5])

    def _judge(self, r: Reading, rules: Rules) -> dict[str, Any]:
        s = self.span()
        out: dict[str, Any] = {
            "rig": printable(self.name, 128), "model": self.model,
            "worker": printable(self.worker, 160),
            "watts": r.watts, "claimed_ths": r.claimed_ths, "flagged": False,
            "window_s": 0.0, "shares": 0, "expected_shares": None, "credited_ths": None,
            "p_value": None, "known_at_pool": r.shares is not None, "earlier_window": False,
        }  # fmt: skip
        if s is not None:
            secs, k, diff, lam, _, _ = s
            credited = diff * TWO_32 / secs / rules.hashes_per_th if secs > 0 else None
            out.update(window_s=secs, shares=k, credited_ths=credited, expected_shares=lam)
        if s is None or s[0] < rules.min_window_s or s[3] < rules.min_expected_shares:
            # not conclusive: a flag stands until a later conclusive window clears it (a
            # flagged rig shed asleep is not cleared by sleeping)
            if self.verdict.get("flagged"):
                kept = dict(self.verdict)
                kept.update(watts=r.watts, claimed_ths=r.claimed_ths, earlier_window=True)
                return kept
            return out
        secs, k, _, lam, _, _ = s
        if k >= rules.max_ratio * lam:
            return out
        p = poisson_cdf(k, lam)
        out["p_value"] = p
        out["flagged"] = p < rules.alpha
        return out


@dataclass
class SiteVerify:
    """Every rig of one site, by fleetd's rig name."""

    rules: Rules
    rigs: dict[str, RigWatch] = field(default_factory=dict)

    def observe(
        self,
        now: float,
        rigs: list[dict[str, Any]],
        workers: dict[str, dict[str, Any]],
        worker_of: Any,
    ) -> None:
        """One round: `rigs` as fleetd's RigList has them, `workers` the pool's rows by
        worker name, `worker_of(rig name) -> worker name`."""
        seen: dict[str, RigWatch] = {}
        for rig in rigs[:MAX_RIGS]:
            if not isinstance(rig, dict) or not isinstance(rig.get("name"), str):
                continue
            name = rig["name"]
            watch = self.rigs.get(name)
            if watch is None:
                m = rig.get("model")
                model = printable(m, 40) if isinstance(m, str) and m else "unknown"
                watch = self.rigs[name] = RigWatch(name, model, worker_of(name))
            seen[name] = watch
        # for a worker the pool does not see: the highest difficulty of the site's workers
        # of the same model (else of any model): the smallest expectation
        fallback: dict[str, float] = {}
        for watch in seen.values():
            w = workers.get(watch.worker)
            d = None if w is None else _number(w.get("difficulty"))
            if d is not None and d > 0:
                for key in (watch.model, ""):
                    fallback[key] = max(fallback.get(key, 0.0), d)
        for rig in rigs[:MAX_RIGS]:
            if not isinstance(rig, dict) or rig.get("name") not in seen:
                continue
            watch = seen[rig["name"]]
            w = workers.get(watch.worker)
            shares = None if w is None else _number(w.get("accepted_shares"))
            diff_sum = None if w is None else _number(w.get("accepted_difficulty"))
            fresh = rig.get("fresh") is not False
            watch.add(
                Reading(
                    now,
                    _number(rig.get("watts")) if fresh else None,
                    _number(rig.get("ths")) if fresh else None,
                    None if shares is None else int(shares),
                    diff_sum,
                    None if w is None else _number(w.get("difficulty")),
                ),
                fallback.get(watch.model) or fallback.get(""),
                self.rules,
            )
        for gone in set(self.rigs) - set(seen):
            del self.rigs[gone]

    def credited_th(self) -> float:
        """The work the pool credited the site's rigs since they were first watched (TH:
        summed share difficulty * 2^32 over hashes_per_th), for the regulator's report."""
        return sum(w.base_diff for w in self.rigs.values()) * TWO_32 / self.rules.hashes_per_th

    def flagged_names(self) -> list[str]:
        """The flagged rigs by their name in fleetd (as read, for fleetd's shed-first)."""
        return sorted(w.name for w in self.rigs.values() if w.verdict.get("flagged"))

    def flagged(self) -> list[dict[str, Any]]:
        return [w.verdict for w in self.rigs.values() if w.verdict.get("flagged")]

    def figures(self, site_watts: float | None) -> dict[str, Any]:
        """Per site and per model over each rig's window: credited and claimed TH/s, the
        pool-verified J/TH (watts over credited TH/s) beside the claimed one."""
        models: dict[str, list[float]] = {}  # model -> [watts, credited TH/s, claimed TH/s]
        credited_ths = claimed_ths = 0.0
        for w in self.rigs.values():
            s = w.span()
            if s is None or s[0] <= 0:
                continue
            secs, _, diff, _, joules, claimed_th = s
            c, h = diff * TWO_32 / secs / self.rules.hashes_per_th, claimed_th / secs
            m = models.setdefault(w.model, [0.0, 0.0, 0.0])
            m[0] += joules / secs
            m[1] += c
            m[2] += h
            credited_ths += c
            claimed_ths += h
        by_model = {
            k: {
                "watts": v[0],
                "credited_ths": v[1],
                "claimed_ths": v[2],
                "jth_pool": v[0] / v[1] if v[1] > 0 else None,
                "jth_claimed": v[0] / v[2] if v[2] > 0 else None,
            }
            for k, v in sorted(models.items())
        }
        rig_watts = sum(v[0] for v in models.values())
        return {
            "credited_ths": credited_ths,
            "claimed_ths": claimed_ths,
            "jth_pool": site_watts / credited_ths
            if site_watts is not None and credited_ths > 0
            else None,
            "jth_claimed": rig_watts / claimed_ths if claimed_ths > 0 else None,
            "by_model": by_model,
        }


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)
