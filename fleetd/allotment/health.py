"""What a live feed says in the log: each failure, rate-limited, and each change of state.

A feed that fails every poll would fill the log, and one that stays quiet would leave
nothing to read afterwards. `FeedLog` writes:
- the first failure of each kind at once (WARNING), then at most one line per kind every
  `every_s`, with the count of the failures it left out;
- the moment the feed goes stale and its floor applies (WARNING), and the moment it
  recovers (INFO, with how long it was in trouble and how many failures it saw);
- its first figure (INFO).

Reasons come from the pure core (fleetd.allotment.feed) with any outside text already
repr-escaped and bounded; the feed's own name is logged with %r as well. The class holds
no clock: every call passes `now`, so tests drive it without sleeping.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from fleetd.allotment.feed import FeedState

log = logging.getLogger("fleetd.allotment")

MAX_KINDS = 32  # distinct kinds of failure remembered per feed (the rest share one slot)


def failure_kind(reason: str) -> str:
    """A short, bounded key for a reason ("HTTP 503", "not JSON", "mw", ...): failures of
    one kind share a rate limit, so a new kind of trouble is logged at once."""
    text = reason.split(": ", 1)[-1]
    m = re.match(r"(HTTP \d{3}|[A-Za-z_ ]{1,24})", text)
    return m.group(1).strip() if m else "other"


@dataclass
class _Limit:
    last_logged: float
    left_out: int = 0


@dataclass
class Throttle:
    """At most one line per kind of trouble every `every_s`; the next line says how many it
    left out. Kinds are bounded (MAX_KINDS; the rest share "other")."""

    every_s: float = 30.0
    _limits: dict[str, _Limit] = field(default_factory=dict)

    def warn(self, logger: logging.Logger, kind: str, now: float, msg: str, *args: object) -> bool:
        """Log `msg % args` at WARNING unless this kind was logged within `every_s`."""
        if kind not in self._limits and len(self._limits) >= MAX_KINDS:
            kind = "other"
        lim = self._limits.get(kind)
        if lim is not None and now - lim.last_logged < self.every_s:
            lim.left_out += 1
            return False
        if lim is not None and lim.left_out:
            msg += " (%d more like it in the last %.0f s)"
            args = (*args, lim.left_out, now - lim.last_logged)
        logger.warning(msg, *args)
        self._limits[kind] = _Limit(now)
        return True

    @property
    def active(self) -> bool:
        """Something was logged since the last reset (the trouble has not been cleared)."""
        return bool(self._limits)

    def reset(self) -> None:
        self._limits.clear()


@dataclass
class FeedLog:
    """Rate-limited log lines for one feed; call `failed()` per failure and `check()` after
    every attempt (or periodically) to log changes of state."""

    state: FeedState
    every_s: float = 30.0
    site: str = ""  # the site the feed serves (a daemon runs several), named in each line
    logger: logging.Logger = field(default_factory=lambda: log)
    _throttle: Throttle = field(init=False)
    _last_state: str | None = None  # None until the first check that counts
    _ok_errors: int = 0  # errors counted when the feed was last seen ok
    _trouble_since: float = 0.0  # when the current trouble began

    def __post_init__(self) -> None:
        self._throttle = Throttle(self.every_s)

    @property
    def who(self) -> str:
        """The feed (and its site), repr-escaped: "allotment feed 'tso' of site 'north'"."""
        text = f"allotment feed {self.state.name!r}"
        return text + (f" of site {self.site!r}" if self.site else "")

    def failed(self, reason: str, now: float) -> None:
        self._throttle.warn(self.logger, failure_kind(reason), now, "%s: %s", self.who,
                            _body(reason, self.state))  # fmt: skip

    def check(self, now: float) -> None:
        st = self.state
        state, reason, since = st.health(now)
        was = self._last_state
        if state == was:
            if state == "ok":
                self._ok_errors = st.errors
            return
        if state == "stale" and st.value is None and st.failing_since is None:
            started = st.started_at if st.started_at is not None else now
            if now - started < st.stale_after_s:
                return  # starting up: give the first figure time to arrive
        if state != "ok" and was in (None, "ok"):
            self._trouble_since = since if since is not None else now
        if state == "stale":
            held = "no figure yet" if st.value is None else f"last figure {st.value.mw:g} MW"
            self.logger.warning(
                "%s stale: %s; the floor of %g MW applies (%s)",
                self.who, _body(reason, st), st.floor_mw, held,
            )  # fmt: skip
        elif state == "ok" and st.value is not None:
            if was is None:
                self.logger.info("%s: first figure %g MW", self.who, st.value.mw)
            else:
                self.logger.info(
                    "%s recovered after %.1f s: %g MW (%d failures)",
                    self.who, now - self._trouble_since, st.value.mw, st.errors - self._ok_errors,
                )  # fmt: skip
            self._throttle.reset()
            self._ok_errors = st.errors
        self._last_state = state


def _body(reason: str, st: FeedState) -> str:
    return reason.removeprefix(f"{st.name}: ")
