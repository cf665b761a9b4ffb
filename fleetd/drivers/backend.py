"""The shared base of the per-family drivers (fleetd.drivers.luxos_driver, braiins,
antminer, whatsminer), as pyasic keeps one backend per firmware over a common miner class.

What every family shares lives here: the pyasic miner object (identified once by pyasic's
factory, or built directly where the family is known), the family's credentials put on it,
bounded calls (pyasic's own socket reads wait up to 100 s: every call runs under
asyncio.wait_for) with a bounded number of retries, the target check before any I/O, and
the credentials rule: a rig that refuses the configured credentials is reported by name
("credentials refused: ...") and, until it takes them again, every reading of it is a
failed one, so the controller counts it at nameplate and says so (log, the /sites view
and the `surplus_fleetd_rigs_credentials_refused` metric). Every `AUTH_RECHECK_S` the
family asks again (`_recheck_credentials`: a Braiins login, a stock Antminer's config
read; a Whatsminer has no harmless privileged call, so its next command tells).

A family module implements `_read_once` and `_apply_once`, and may override `_prepare`
(credentials on a new miner object) and `check`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from fleetd.drivers.base import ApplyResult, DriverError, DriverTimeouts, RigReading, Target
from fleetd.drivers.capabilities import Capabilities, FirmwareKind, capabilities, firmware_of
from fleetd.drivers.control import Control
from fleetd.drivers.replies import Telemetry
from fleetd.planner.fleet import RigState

Clock = Callable[[], float]
log = logging.getLogger("fleetd.drivers")

CREDENTIALS_REFUSED = "credentials refused"
AUTH_RECHECK_S = 300.0  # a rig refusing the credentials is asked again this often


class Refused(Exception):
    """A command the rig did not carry out (the message says which); worth a retry."""


class CredentialsRefused(Refused):
    """The rig refused the configured credentials (not worth a retry)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A family's login: the username and the secret (read from the environment by the
    config; never logged). None for either keeps pyasic's default (the factory's)."""

    username: str | None = None
    password: str | None = None
    password_v3: str | None = None  # Whatsminer API v3's account (v2 uses `password`)

    def __repr__(self) -> str:  # the secrets never reach a log line
        secret = "***" if self.password else None
        v3 = "***" if self.password_v3 else None
        return f"Credentials(username={self.username!r}, password={secret}, password_v3={v3})"


class PyasicBackend:
    """One rig of one firmware family behind pyasic. Cheap to create: nothing is sent until
    the first call."""

    family: ClassVar[FirmwareKind]

    def __init__(
        self,
        host: str,
        *,
        timeouts: DriverTimeouts | None = None,
        clock: Clock = time.time,
        miner: Any = None,
        credentials: Credentials | None = None,
        control: Control | None = None,
    ) -> None:
        self.host = host
        self.firmware: FirmwareKind = self.family
        self.timeouts = timeouts or DriverTimeouts()
        self.clock = clock
        self.credentials = credentials or Credentials()
        self.control = control or Control.default(self.family)
        self._miner: Any = None
        self.auth_error = ""  # set while the rig refuses our credentials
        self._refused_at = -math.inf  # monotonic time of the latest refusal
        self.requests = 0  # API requests sent (where a family counts them)
        self.logons = 0
        if miner is not None:
            self._adopt(miner)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host})"

    @property
    def capabilities(self) -> Capabilities:
        return capabilities(self.family)

    # ------------------------------------------------------------------ the pyasic object

    def _adopt(self, miner: Any) -> None:
        self._prepare(miner)
        self._miner = miner

    def _prepare(self, miner: Any) -> None:
        """Put the family's credentials on a new pyasic miner object (a family hook)."""

    def _web_login(self, miner: Any) -> None:
        """The credentials on pyasic's web client (Braiins' gRPC, the Antminer web CGI);
        unset ones keep pyasic's defaults."""
        c = self.credentials
        if c.username is not None:
            miner.web.username = c.username
        if c.password is not None:
            miner.web.pwd = c.password

    async def _build(self) -> Any:
        """The pyasic object, identified by pyasic's factory (a family may build its own)."""
        import pyasic

        miner = await asyncio.wait_for(pyasic.get_miner(self.host), self.timeouts.probe_s)
        if miner is None:
            raise DriverError(f"{self.host}: no miner answered pyasic's identification")
        found = firmware_of(miner)
        if found != self.family:
            what = "a firmware fleetd does not drive" if found is None else found.value
            raise DriverError(
                f"{self.host}: configured as {self.family.value} but pyasic identifies "
                f"{what} ({type(miner).__name__})"
            )
        return miner

    async def miner(self) -> Any:
        """The pyasic miner object (built on first use)."""
        if self._miner is None:
            self._adopt(await self._build())
        return self._miner

    # ------------------------------------------------------------------ credentials

    def refused_credentials(self, why: str) -> CredentialsRefused:
        """Note that the rig refused our credentials; the exception to raise."""
        msg = f"{self.host}: {CREDENTIALS_REFUSED} ({why})"
        if not self.auth_error:
            log.warning("%s; counted at nameplate until it takes them", msg)
        self.auth_error = msg
        self._refused_at = time.monotonic()
        return CredentialsRefused(msg)

    async def _recheck_credentials(self, miner: Any) -> None:
        """Ask whether the rig takes the credentials now (a family hook; raise
        CredentialsRefused if not). Without a harmless privileged call the next command
        tells: the rig is planned again meanwhile."""
        self.credentials_ok()

    def credentials_ok(self) -> None:
        if self.auth_error:
            log.info("%s: credentials accepted again", self.host)
        self.auth_error = ""

    # ------------------------------------------------------------------ telemetry

    async def read(self) -> RigReading:
        """Telemetry; never raises for a rig problem (ok=False, state UNREACHABLE)."""
        t = self.timeouts
        started = time.monotonic()
        error = ""
        attempts = 0
        for attempt in range(1 + t.read_retries):
            attempts += 1
            try:
                reading = await asyncio.wait_for(self._read_once(started, attempts), t.read_s)
            except TimeoutError:
                error = f"no reply within {t.read_s:g} s"
            except CredentialsRefused as exc:
                error = str(exc)
                break
            except (OSError, DriverError, Refused, ValueError) as exc:  # ValueError: a reply
                error = str(exc) or type(exc).__name__  # the family's parser could not use
            except Exception as exc:  # pyasic raises its own APIError and odd parse errors
                error = f"{type(exc).__name__}: {exc}"
            else:
                if self.auth_error and time.monotonic() - self._refused_at > AUTH_RECHECK_S:
                    try:
                        await asyncio.wait_for(self._recheck_credentials(self._miner),
                                               t.read_s)  # fmt: skip
                    except CredentialsRefused:
                        pass
                    except Exception:  # no answer now: asked again at the next reading
                        pass
                if not self.auth_error or not reading.ok:
                    return reading
                error = self.auth_error  # it answers, but will not take our commands
                break
            if attempt < t.read_retries:
                await asyncio.sleep(t.retry_backoff_s)
        return RigReading.unknown(
            self.host, error, self.clock(), attempts=attempts,
            latency_s=time.monotonic() - started,
        )  # fmt: skip

    async def _read_once(self, started: float, attempts: int) -> RigReading:
        raise NotImplementedError

    def _reading(
        self, tel: Telemetry, state: RigState, started: float, attempts: int, *,
        limit_w: float | None = None, profile: str | None = None, status: str = "",
    ) -> RigReading:
        """A reading from a family's parsed reply."""
        words = {RigState.SLEEPING: "Sleeping", RigState.HASHING: "Hashing"}
        return RigReading(
            host=self.host, ok=True, state=state, read_at=self.clock(), hashrate_ths=tel.ths,
            watts=tel.watts, power_limit_w=tel.limit_w if limit_w is None else limit_w,
            profile=profile, temps_c=tel.temps_c, fans_rpm=tel.fans_rpm,
            status=status or words.get(state, "Booting"), model=tel.model,
            uptime_s=tel.uptime_s, latency_s=time.monotonic() - started, attempts=attempts,
        )  # fmt: skip

    # ------------------------------------------------------------------ commands

    def check(self, target: Target) -> None:
        """DriverError when this firmware cannot carry out `target` (before any I/O)."""
        caps = self.capabilities
        fw = caps.firmware.value
        if target.watts is not None and not caps.watt_limit:
            raise DriverError(f"{self.host}: {fw} firmware takes no watt limit; use a mode")
        name = target.profile
        if name is not None and not caps.profiles and name not in caps.modes:
            choices = ", ".join(caps.modes) or "none"
            raise DriverError(
                f"{self.host}: {fw} firmware has no profile {name!r}; modes: {choices}"
            )

    async def apply(self, target: Target) -> ApplyResult:
        """Carry out `target`; never raises for a rig problem (ok=False, error named)."""
        t = self.timeouts
        started = time.monotonic()
        attempts = 0
        error = ""
        try:
            self.check(target)
            if self._miner is None:
                await asyncio.wait_for(self.miner(), t.probe_s)
        except (TimeoutError, DriverError, OSError) as exc:
            error = str(exc) or "identification timed out"
            elapsed = time.monotonic() - started
            return ApplyResult(self.host, target, False, self.clock(), 0, elapsed, error)
        before = self._resets()
        for attempt in range(1 + t.command_retries):
            attempts += 1
            try:
                detail = await asyncio.wait_for(self._apply_once(target), t.command_s)
            except TimeoutError:
                error = f"no answer within {t.command_s:g} s"
            except (DriverError, CredentialsRefused) as exc:  # no better for retrying
                error = str(exc)
                break
            except (Refused, OSError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # pyasic's APIError, grpclib's GRPCError and friends
                error = f"{type(exc).__name__}: {exc}"
            else:
                self.credentials_ok()
                return ApplyResult(
                    self.host, target, True, self.clock(), attempts,
                    time.monotonic() - started, "", self._resets() - before, detail,
                )  # fmt: skip
            self._after_failure()
            if attempt < t.command_retries:
                await asyncio.sleep(t.retry_backoff_s)
        return ApplyResult(
            self.host, target, False, self.clock(), attempts, time.monotonic() - started,
            error, self._resets() - before,
        )  # fmt: skip

    async def _apply_once(self, target: Target) -> str:
        raise NotImplementedError

    def _after_failure(self) -> None:
        """A command failed: forget what the driver assumed of the rig (a family hook)."""

    def _resets(self) -> int:
        return 0
