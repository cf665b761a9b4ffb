"""The ban score: bad requests per address within a window, and the bans they earn.

Every request answered with an error counts one strike (stale shares excepted: they
are the pool's doing, not the miner's); input that ends the connection (a line that is
not JSON, a line over the size limit, a partial line left hanging) counts
`CLOSING_STRIKES`, so reconnecting to repeat it does not escape the count. More than
`max_invalid` strikes within `window` seconds bans the address for `ban_seconds`.
Scores live per address (pool.stratum.limits.address_key), bounded in number: the
oldest are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

CLOSING_STRIKES = 10
MAX_SCORED_ADDRESSES = 65_536


@dataclass(eq=False)
class BanBook:
    max_invalid: int
    window: float
    ban_seconds: float
    _: KW_ONLY
    clock: Callable[[], float] = time.monotonic
    max_addresses: int = MAX_SCORED_ADDRESSES
    # key -> [since, count]
    _scores: OrderedDict[str, list[float]] = field(init=False, default_factory=OrderedDict)
    _bans: dict[str, float] = field(init=False, default_factory=dict)  # key -> banned until

    def strike(self, key: str, weight: int = 1) -> int | None:
        """Count `weight` strikes; the score when it crosses the limit (ban now), else None."""
        now = self.clock()
        score = self._scores.get(key)
        if score is None or now - score[0] > self.window:
            score = [now, 0.0]
            self._scores[key] = score
            self._scores.move_to_end(key)
            while len(self._scores) > self.max_addresses:
                self._scores.popitem(last=False)
        score[1] += weight
        if score[1] > self.max_invalid:
            del self._scores[key]
            return int(score[1])
        return None

    def ban(self, key: str) -> None:
        if self.ban_seconds > 0 and key:
            self._bans[key] = self.clock() + self.ban_seconds

    def extend(self, key: str, seconds: float) -> None:
        """A ban made elsewhere (another process of the cluster): refused for `seconds`
        from now, or longer if already banned for longer."""
        if seconds > 0 and key:
            until = self.clock() + seconds
            if until > self._bans.get(key, 0.0):
                self._bans[key] = until

    def is_banned(self, key: str) -> bool:
        until = self._bans.get(key)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._bans[key]
        return False

    def expire(self, now: float | None = None) -> None:
        """Drop ended bans and stale scores (the server's sweep calls this)."""
        now = self.clock() if now is None else now
        for key in [k for k, until in self._bans.items() if until <= now]:
            del self._bans[key]
        while self._scores:
            key, (since, _) = next(iter(self._scores.items()))
            if now - since <= self.window:
                break
            del self._scores[key]

    def __len__(self) -> int:
        return len(self._bans)
