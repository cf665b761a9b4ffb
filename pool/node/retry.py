"""Retry timing and per-URL health for the node client: pure code, no I/O.

Backoff with jitter keeps several pool processes from hammering a restarting node in
lock step. The health table decides which URL to try first (the primary when it is
well, otherwise the others, with a URL that just failed put to the back for a while)
and reports *transitions*, so the shell logs "down", "warming up" or "refused auth"
once per change instead of ten times a second from the 100 ms poll.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a single call keeps trying before it gives up.

    ``rounds`` passes over all URLs; between passes the caller sleeps
    ``backoff_delay(round)``. With the defaults a call to a dead node gives up after
    about 1.5 s, which is long enough to ride over a keep-alive reset or a failover and
    short enough that the watcher and the pool notice and report the outage.
    """

    rounds: int = 5
    base_delay: float = 0.1
    multiplier: float = 2.0
    max_delay: float = 2.0
    jitter: float = 0.25
    cooldown: float = 1.0
    max_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"RetryPolicy.rounds must be >= 1, got {self.rounds}")
        for name in ("base_delay", "max_delay", "cooldown", "max_cooldown"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter}")


def backoff_delay(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """Seconds to wait after failed round ``attempt`` (0-based); ``rand`` is in [0, 1).

    Exponential growth capped at ``max_delay``, then spread uniformly over
    ``[d * (1 - jitter), d * (1 + jitter))`` so that clients desynchronise.
    """
    raw = min(policy.max_delay, policy.base_delay * policy.multiplier**attempt)
    return raw * (1.0 - policy.jitter + 2.0 * policy.jitter * rand)


class Health(enum.Enum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"
    WARMING_UP = "warming up"
    AUTH_REFUSED = "refusing authentication"


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of one URL's health, reported once so the shell can log it once."""

    endpoint: str
    old: Health
    new: Health
    detail: str


@dataclass(slots=True)
class _EndpointState:
    health: Health = Health.UNKNOWN
    failures: int = 0
    retry_at: float = 0.0
    detail: str = ""


@dataclass(slots=True)
class HealthTable:
    """Health of each configured URL, in configuration order (the first is primary)."""

    endpoints: tuple[str, ...]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    _states: dict[str, _EndpointState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("at least one node URL is required")
        self._states = {e: _EndpointState() for e in self.endpoints}

    def health(self, endpoint: str) -> Health:
        return self._states[endpoint].health

    def order(self, now: float) -> list[str]:
        """URLs to try, best first: ones not cooling down, in configuration order,
        then the ones cooling down, soonest due first. Every URL is always listed:
        when all are failing we still try them all rather than fail without asking."""
        ready = [e for e in self.endpoints if self._states[e].retry_at <= now]
        waiting = sorted(
            (e for e in self.endpoints if self._states[e].retry_at > now),
            key=lambda e: self._states[e].retry_at,
        )
        return ready + waiting

    def record_ok(self, endpoint: str) -> Transition | None:
        st = self._states[endpoint]
        old = st.health
        st.health, st.failures, st.retry_at, st.detail = Health.UP, 0, 0.0, ""
        if old in (Health.UP, Health.UNKNOWN):
            return None
        return Transition(endpoint, old, Health.UP, "")

    def record_failure(
        self, endpoint: str, health: Health, detail: str, now: float
    ) -> Transition | None:
        if health in (Health.UP, Health.UNKNOWN):
            raise ValueError(f"record_failure needs a failure health, got {health}")
        st = self._states[endpoint]
        old = st.health
        st.failures += 1
        st.retry_at = now + min(
            self.policy.max_cooldown, self.policy.cooldown * 2 ** (st.failures - 1)
        )
        st.health, st.detail = health, detail
        if old == health:
            return None
        return Transition(endpoint, old, health, detail)
