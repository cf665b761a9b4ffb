"""Variable difficulty: the pure retarget rule, one small state record per connection.

The estimate is the credited work (sum of the difficulties of accepted shares) over the
elapsed time, so a retarget in the middle of the window is counted correctly. Steps are
bounded by `max_step` both ways, small corrections (within `tolerance`) are skipped to
avoid chatter, and the result is rounded to three significant digits because miners see
it and some firmware prints it.
"""

from __future__ import annotations

from pool.stratum.config import VardiffConfig


def clamp_difficulty(config: VardiffConfig, difficulty: float, floor: float = 0.0) -> float:
    """Bound a difficulty to the pool's [minimum, maximum] and the miner's own floor."""
    low = max(config.minimum, floor)
    return min(max(difficulty, low), config.maximum)


def _round3(value: float) -> float:
    return float(f"{value:.3g}")


def retarget(
    config: VardiffConfig,
    difficulty: float,
    shares: int,
    credited: float,
    elapsed: float,
    floor: float = 0.0,
) -> float | None:
    """A new difficulty, or None to keep the current one.

    shares/credited: count and summed difficulty of the shares accepted in `elapsed`
    seconds since the last retarget."""
    if not config.enabled or elapsed <= 0:
        return None
    if shares < config.retarget_shares and elapsed < config.retarget_time:
        return None
    ideal = credited * config.target_interval / elapsed
    stepped = min(max(ideal, difficulty / config.max_step), difficulty * config.max_step)
    new = clamp_difficulty(config, _round3(stepped), floor)
    bounded = clamp_difficulty(config, difficulty, floor)
    if bounded != difficulty:  # out of bounds (a new floor): move at once
        return new if new != difficulty else None
    if abs(new - difficulty) <= difficulty * config.tolerance:
        return None
    return new
