"""The one interface fleetd has to a rig: read its telemetry, apply a target.

Everything a driver returns is plain data. A read that fails never raises: it returns a
reading with ok=False, which the controller counts as unknown (the planner then counts
the rig at nameplate power). `RigReading.planner_state(now, max_age_s)` applies the same
rule to readings that have grown old.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from fleetd.drivers.capabilities import Capabilities
from fleetd.planner.fleet import RigState


class DriverError(RuntimeError):
    """A target this rig's firmware cannot carry out (named), or a bad target."""


class TargetKind(StrEnum):
    SLEEP = "sleep"
    WAKE = "wake"
    PROFILE = "profile"  # a LuxOS profile name, or a stock mode ("low", "normal")
    WATTS = "watts"  # a power limit in watts


@dataclass(frozen=True, slots=True)
class Target:
    """What a rig is told. A WAKE may carry the profile or watts to wake into, so a rig
    that wakes during a tight allotment never passes through full power."""

    kind: TargetKind
    profile: str | None = None
    watts: float | None = None

    def __post_init__(self) -> None:
        if self.watts is not None and not (math.isfinite(self.watts) and self.watts > 0):
            raise DriverError(f"target watts must be a finite number > 0, got {self.watts!r}")
        if self.kind == TargetKind.PROFILE and not self.profile:
            raise DriverError("a profile target needs a profile name")
        if self.kind == TargetKind.WATTS and self.watts is None:
            raise DriverError("a watts target needs watts")
        if self.kind == TargetKind.SLEEP and (self.profile or self.watts is not None):
            raise DriverError("a sleep target takes no profile or watts")
        if self.profile is not None and self.watts is not None:
            raise DriverError("a target takes a profile or watts, not both")

    @classmethod
    def sleep(cls) -> Target:
        return cls(TargetKind.SLEEP)

    @classmethod
    def wake(cls, profile: str | None = None, watts: float | None = None) -> Target:
        return cls(TargetKind.WAKE, profile, watts)

    @classmethod
    def use_profile(cls, name: str) -> Target:
        return cls(TargetKind.PROFILE, profile=name)

    @classmethod
    def limit_watts(cls, watts: float) -> Target:
        return cls(TargetKind.WATTS, watts=float(watts))

    def __str__(self) -> str:
        if self.kind == TargetKind.SLEEP:
            return "sleep"
        extra = self.profile if self.profile else (f"{self.watts:g}W" if self.watts else "")
        if self.kind == TargetKind.WAKE:
            return f"wake:{extra}" if extra else "wake"
        return f"{self.kind.value}:{extra}"


@dataclass(frozen=True, slots=True)
class RigReading:
    """One rig's telemetry as fleetd uses it.

    ok=False means the read failed (refused, timed out, garbled): every figure is None
    and `error` says why. `state` is what the planner calls it (UNREACHABLE when not ok).
    `status` is the firmware's own word where it gives one ("Hashing", "Sleeping", ...).
    read_at is epoch seconds when the reply arrived; latency_s how long the read took.
    """

    host: str
    ok: bool
    state: RigState
    read_at: float
    hashrate_ths: float | None = None
    watts: float | None = None
    power_limit_w: float | None = None
    profile: str | None = None
    temps_c: tuple[float, ...] = ()
    fans_rpm: tuple[int, ...] = ()
    status: str = ""
    model: str | None = None
    uptime_s: float | None = None
    latency_s: float = 0.0
    attempts: int = 1
    error: str = ""

    @classmethod
    def unknown(cls, host: str, error: str, read_at: float, **extra: object) -> RigReading:
        return cls(host=host, ok=False, state=RigState.UNREACHABLE, read_at=read_at,
                   error=error, **extra)  # type: ignore[arg-type]  # fmt: skip

    @property
    def max_temp_c(self) -> float | None:
        return max(self.temps_c) if self.temps_c else None

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.read_at)

    def is_fresh(self, now: float, max_age_s: float) -> bool:
        return self.ok and self.age_s(now) <= max_age_s

    def planner_state(self, now: float, max_age_s: float) -> RigState:
        """The state to plan with: UNREACHABLE for a failed or stale read."""
        return self.state if self.is_fresh(now, max_age_s) else RigState.UNREACHABLE


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of one apply(): ok, or the error after `attempts` tries."""

    host: str
    target: Target
    ok: bool
    at: float  # epoch seconds when the outcome was known
    attempts: int = 1
    latency_s: float = 0.0
    error: str = ""
    session_resets: int = 0
    detail: str = ""  # e.g. the profile pyasic picked for a watt limit


@runtime_checkable
class Driver(Protocol):
    host: str
    @property
    def capabilities(self) -> Capabilities: ...

    async def read(self) -> RigReading: ...

    async def apply(self, target: Target) -> ApplyResult: ...


@dataclass(frozen=True)
class DriverTimeouts:
    """Per-call limits: every call is bounded, and late replies get a bounded retry.

    LuxOS drops a session after 60 s idle (`session_expiry_s`); pyasic 0.79 caches the id
    forever, so the driver forgets it after `session_ttl_s` without use (and once more on
    any refusal). Past `session_expiry_s` the session is surely gone and the driver logs on
    at once instead of asking for the live session first.

    A LuxOS profile change turns ATM off and on around `profileset` when ATM is enabled;
    the driver takes the ATM switch (and the running profile) from its own reading when
    that reading is at most `seen_max_age_s` old, instead of asking the rig again.
    """

    read_s: float = 5.0  # one telemetry request
    command_s: float = 15.0  # one whole command (a LuxOS profile change is 3-4 requests)
    read_retries: int = 1  # extra attempts after a timed-out or failed read
    command_retries: int = 1  # extra attempts after a timed-out or failed command
    session_ttl_s: float = 45.0
    probe_s: float = 10.0  # pyasic.get_miner() identification
    retry_backoff_s: float = 0.2
    session_expiry_s: float = 60.0  # the firmware's idle limit
    seen_max_age_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("read_s", "command_s", "session_ttl_s", "probe_s", "session_expiry_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise DriverError(f"{name} must be > 0, got {v!r}")
        if not (math.isfinite(self.seen_max_age_s) and self.seen_max_age_s >= 0):
            raise DriverError(f"seen_max_age_s must be >= 0, got {self.seen_max_age_s!r}")
        if self.session_ttl_s > self.session_expiry_s:
            raise DriverError(
                f"session_ttl_s ({self.session_ttl_s:g}) must not exceed session_expiry_s "
                f"({self.session_expiry_s:g}): a token is dropped before the firmware drops it"
            )
        for name in ("read_retries", "command_retries"):
            if getattr(self, name) < 0:
                raise DriverError(f"{name} must be >= 0")
