"""Water-filling over chains of segments: spend a power budget on the best TH per W first.

Every rig offers a chain of segments (sleep -> first running point, then one step up the
curve at a time). Along a chain the marginal efficiency (TH/s per W) never rises, so
taking segments across all rigs in falling order of efficiency until the budget is
spent takes a prefix of every chain; that is the optimum of the LP relaxation.
Divisible segments (continuous firmware) may be taken in part, so the last one tops the
budget up exactly; atomic ones (waking a rig, a profile step) are all-or-nothing, and
what they leave over is refilled by further rounds over the next segment of each chain.

Thousands of rigs share one chain (same model, firmware, lock and cap), so the fill runs
on *groups*: `count` identical rigs of chain `type`, standing `level` segments up it
(plus `frac` of the next). Taking a segment for only some rigs of a group splits it.
The work is then proportional to the number of distinct chains, not of rigs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Chains:
    """Segments of every chain type, flattened: type t owns [start[t], start[t] + length[t])."""

    eff: np.ndarray  # float64 TH/s per W, non-increasing along a chain
    dw: np.ndarray  # float64 W added by one rig taking the segment (> 0)
    atomic: np.ndarray  # bool: all-or-nothing
    start: np.ndarray  # intp per type
    length: np.ndarray  # intp per type


@dataclass(slots=True)
class Groups:
    """Identical rigs at the same place on the same chain."""

    type: np.ndarray  # intp
    level: np.ndarray  # intp: segments fully taken
    frac: np.ndarray  # float64: share of segment `level` also taken (divisible only)
    count: np.ndarray  # int64: rigs in the group

    @classmethod
    def fresh(cls, counts: np.ndarray) -> Groups:
        """One group per type, nothing taken yet."""
        t = np.flatnonzero(counts > 0)
        return cls(t, np.zeros(t.size, np.intp), np.zeros(t.size), counts[t].astype(np.int64))

    def split(self, g: int, full: int, part: float) -> None:
        """Move `full` rigs of group g one segment up; give one more rig `part` of it."""
        types, levels, fracs, counts = [], [], [], []
        if full:
            types.append(self.type[g])
            levels.append(self.level[g] + 1)
            fracs.append(0.0)
            counts.append(full)
        if part > 0:
            types.append(self.type[g])
            levels.append(self.level[g])
            fracs.append(part)
            counts.append(1)
        self.count[g] -= sum(counts)
        self.type = np.append(self.type, types).astype(np.intp)
        self.level = np.append(self.level, levels).astype(np.intp)
        self.frac = np.append(self.frac, fracs)
        self.count = np.append(self.count, counts).astype(np.int64)

    def drop_empty(self) -> None:
        keep = self.count > 0
        self.type, self.level = self.type[keep], self.level[keep]
        self.frac, self.count = self.frac[keep], self.count[keep]


def fill(
    chains: Chains,
    groups: Groups,
    capacity: float,
    eligible: np.ndarray | None = None,
    rounds: int = 32,
) -> float:
    """Move groups up their chains spending at most `capacity` W; returns the W spent.

    `eligible` (per group) limits which groups may move; the groups are updated in place.
    """
    if capacity <= 0 or groups.type.size == 0:
        return 0.0
    ok = groups.level < chains.length[groups.type]
    if eligible is not None:
        ok &= eligible
    g_idx = np.flatnonzero(ok)
    if g_idx.size == 0:
        return 0.0
    # every remaining segment of every eligible group, group-major and chain-ordered
    n_left = chains.length[groups.type[g_idx]] - groups.level[g_idx]
    cand_g = np.repeat(g_idx, n_left)
    first = np.repeat(np.cumsum(n_left) - n_left, n_left)
    step = np.arange(cand_g.size) - first
    seg = chains.start[groups.type[cand_g]] + groups.level[cand_g] + step
    unit_w = chains.dw[seg] * np.where(step == 0, 1.0 - groups.frac[cand_g], 1.0)
    weight = unit_w * groups.count[cand_g]
    total = float(weight.sum())
    if total <= capacity:
        groups.level[g_idx] += n_left
        groups.frac[g_idx] = 0.0
        return total

    order = np.lexsort((step, cand_g, -chains.eff[seg]))  # best first, then chain order
    cum = np.cumsum(weight[order])
    b = int(np.searchsorted(cum, capacity, side="right"))
    moved = np.bincount(cand_g[order[:b]], minlength=groups.type.size)
    groups.level += moved
    groups.frac[moved > 0] = 0.0
    spent = float(cum[b - 1]) if b else 0.0
    remaining = capacity - spent
    c = order[b]
    spent += _take_some(chains, groups, int(cand_g[c]), int(seg[c]), float(unit_w[c]), remaining)
    remaining = capacity - spent
    if chains.atomic[seg[c]] and remaining > 0:
        spent += _refill(chains, groups, remaining, eligible, rounds)
    groups.drop_empty()
    return spent


def _take_some(
    chains: Chains, groups: Groups, g: int, seg: int, unit_w: float, remaining: float
) -> float:
    """The boundary segment: as many whole rigs as fit, then part of one if divisible."""
    full = min(int(remaining // unit_w), int(groups.count[g]) - 1)
    full = max(full, 0)
    left = remaining - full * unit_w
    part = 0.0
    if not chains.atomic[seg] and left > 0 and full < groups.count[g]:
        dw = chains.dw[seg]
        part = min(1.0, 1.0 - (unit_w - left) / dw)
    groups.split(g, full, part)
    return full * unit_w + (left if part > 0 else 0.0)


def _refill(
    chains: Chains, groups: Groups, remaining: float, eligible: np.ndarray | None, rounds: int
) -> float:
    """Spend what an atomic boundary left on the next segment of each group, in rounds."""
    spent = 0.0
    for _ in range(rounds):
        left = remaining - spent
        if left <= 0:
            break
        n_groups = groups.type.size
        ok = (groups.count > 0) & (groups.level < chains.length[groups.type])
        if eligible is not None:  # groups split off an eligible group stay eligible
            elig = np.ones(n_groups, dtype=bool)
            elig[: eligible.size] = eligible
            ok &= elig
        g_idx = np.flatnonzero(ok)
        seg = chains.start[groups.type[g_idx]] + groups.level[g_idx]
        unit_w = chains.dw[seg] * (1.0 - groups.frac[g_idx])
        fits = ~chains.atomic[seg] | (unit_w <= left)
        g_idx, seg, unit_w = g_idx[fits], seg[fits], unit_w[fits]
        if g_idx.size == 0:
            break
        order = np.lexsort((g_idx, -chains.eff[seg]))
        g_idx, seg, unit_w = g_idx[order], seg[order], unit_w[order]
        cum = np.cumsum(unit_w * groups.count[g_idx])
        k = int(np.searchsorted(cum, left, side="right"))
        groups.level[g_idx[:k]] += 1
        groups.frac[g_idx[:k]] = 0.0
        spent += float(cum[k - 1]) if k else 0.0
        if k == g_idx.size:
            continue
        took = _take_some(
            chains,
            groups,
            int(g_idx[k]),
            int(seg[k]),
            float(unit_w[k]),
            left - (float(cum[k - 1]) if k else 0.0),
        )
        spent += took
        if not chains.atomic[seg[k]]:
            break
        if k == 0 and took == 0:
            break
    return spent
