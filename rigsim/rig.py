"""One emulated rig as the firmware emulators see it: its data types, and the narrow view
of the fleet (`FleetView`) that the firmware families' APIs act through.

The emulators (rigsim.luxos, rigsim.braiins, rigsim.bmminer, ...) need a rig's physics,
its firmware settings and the fleet's control primitives, never the Fleet class itself:
they take a `FleetView`, which `rigsim.fleet.Fleet` is. So the fleet builds its APIs
(rigsim.firmware) without the APIs importing the fleet back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from rigsim.physics import RigReading, RigState

if TYPE_CHECKING:
    from rigsim.config import FaultsConfig, FleetConfig
    from rigsim.models import RigModel
    from rigsim.physics import FleetPhysics
    from rigsim.sessions import SessionBook

LUXOS, BRAIINS, ANTMINER, WHATSMINER = "luxos", "braiins", "antminer", "whatsminer"
FAMILIES = (LUXOS, BRAIINS, ANTMINER, WHATSMINER)

# stock Antminer work modes (get_miner_conf's bitmain-work-mode, set_miner_conf's miner-mode)
MODE_NORMAL, MODE_SLEEP, MODE_LOW = 0, 1, 3


@dataclass
class FirmwareSettings:
    """What one rig's firmware remembers. Every family's fields are here; a rig uses its
    own family's. Only rigs that were touched cost memory (the fleet creates them lazily)."""

    # LuxOS
    atm_enabled: bool = True
    red_led: str = "off"
    # Braiins OS: the tuner's power target (None: the model's default), pause, locate LED
    power_target_w: int | None = None
    saved_target_w: int | None = None  # saved but not applied (None: the running one)
    paused: bool = False
    locate: bool = False
    # stock Antminer: work mode, the pool list and fan settings of get_miner_conf, blink
    work_mode: int = MODE_NORMAL
    pools: list[dict[str, str]] | None = None
    fan_ctrl: bool = False
    fan_pwm: str = "100"
    blink: bool = False
    # Whatsminer: power limit (None: the model's nameplate), power percent, power mode, LED
    power_limit_w: int | None = None
    power_pct: int = 100
    power_mode: str = "Normal"
    led_auto: bool = True
    # login tokens (Braiins) or token signs (Whatsminer v2): token -> expiry, real seconds
    tokens: dict[str, float] = field(default_factory=dict)

    def live_tokens(self, now: float) -> dict[str, float]:
        """The tokens still valid at `now` (expired ones are dropped)."""
        for t in [t for t, until in self.tokens.items() if until <= now]:
            del self.tokens[t]
        return self.tokens


@dataclass(frozen=True)
class Faults:
    """Everything that can be wrong with one rig. The default is a healthy rig."""

    unreachable: Literal["refuse", "blackhole"] | None = None
    api_delay_s: float = 0.0
    drift_awake_after_s: float | None = None
    failed_boards: tuple[int, ...] = ()
    fans_failed: int = 0
    meter_factor: float = 1.0

    @classmethod
    def from_config(cls, cfg: FaultsConfig) -> Faults:
        return cls(
            unreachable=cfg.unreachable,
            api_delay_s=cfg.api_delay_s,
            drift_awake_after_s=cfg.drift_awake_after_s,
            failed_boards=tuple(cfg.failed_boards),
            fans_failed=cfg.fans_failed,
            meter_factor=cfg.meter_factor,
        )


HEALTHY = Faults()


@dataclass
class PoolStatus:
    """What the rig's `pools` command reports; the Stratum client keeps it current."""

    url: str
    user: str
    accepted: int = 0
    rejected: int = 0
    stale: int = 0
    difficulty_accepted: float = 0.0
    last_share_time: float = 0.0
    stratum_active: bool = False
    alive: bool = True


@dataclass(frozen=True, slots=True)
class RigEvent:
    rig: Rig
    old: RigState
    new: RigState
    at: float  # simulated time the change was seen


Listener = Callable[[RigEvent], Awaitable[None] | None]


@dataclass(eq=False, repr=False, slots=True)
class Rig:
    """One rig of the fleet: a light view onto the fleet's arrays."""

    fleet: FleetView
    index: int
    address: str
    site: str
    model: RigModel
    name: str
    firmware: str = "luxos"  # the family whose API the rig speaks (rigsim.firmware)
    whatsminer_v3: bool = False  # a Whatsminer that also serves API v3
    pool_url: str | None = None  # its group's own pool (None: the fleet's)

    def __repr__(self) -> str:
        return f"Rig({self.name} {self.address} {self.model.key} {self.state.name})"

    @property
    def state(self) -> RigState:
        return RigState(int(self.fleet.physics.state[self.index]))

    @property
    def hashrate_ths(self) -> float:
        """Simulated hashrate now (as of the last tick or command)."""
        return float(self.fleet.physics.ths[self.index])

    @property
    def is_hashing(self) -> bool:
        return self.state in (RigState.RAMPING, RigState.HASHING) and self.hashrate_ths > 0

    @property
    def true_w(self) -> float:
        return float(self.fleet.physics.true_w[self.index])

    @property
    def reported_w(self) -> float:
        return float(self.fleet.physics.reported_w[self.index])

    @property
    def pool(self) -> PoolStatus:
        return self.fleet.pool_status(self.index)

    @property
    def faults(self) -> Faults:
        return self.fleet.faults(self.index)

    def reading(self) -> RigReading:
        return self.fleet.reading(self.index)

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(RigEvent)` on each state change of this rig; returns an unsubscribe."""
        return self.fleet.subscribe(callback, rig=self.index)


Rigs = int | Sequence[int] | np.ndarray


class FleetView(Protocol):
    """What a firmware family's API reads and commands of the fleet (rigsim.fleet.Fleet)."""

    config: FleetConfig
    rigs: list[Rig]
    sessions: SessionBook
    physics: FleetPhysics
    apis: Any  # rigsim.firmware.FirmwareApis: one handler per family

    def now(self) -> float: ...
    def firmware(self, i: int) -> FirmwareSettings: ...
    def pool_status(self, i: int) -> PoolStatus: ...
    def faults(self, i: int) -> Faults: ...
    def reading(self, i: int) -> RigReading: ...
    def subscribe(self, callback: Listener, rig: int | None = None) -> Callable[[], None]: ...
    def sleep(self, rigs: Rigs) -> list[RigEvent]: ...
    def wake(self, rigs: Rigs) -> list[RigEvent]: ...
    def set_profile(self, rigs: Rigs, profile: str) -> list[RigEvent]: ...
    def reboot(self, rigs: Rigs, api_down: bool = True) -> list[RigEvent]: ...
    def set_clock(self, rigs: Rigs, x: float, up_s: float | np.ndarray | None = None,
                  down_s: float | np.ndarray | None = None) -> list[RigEvent]: ...  # fmt: skip
    def restart_process(self, rigs: Rigs, hashing: bool = True) -> list[RigEvent]: ...
    def stop_process(self, rigs: Rigs) -> list[RigEvent]: ...
