"""LuxOS API sessions: one session per rig, dropped after an idle timeout.

LuxOS lets one client hold a session id that every privileged command (curtail,
profileset, atmset, ...) must carry as its first parameter. `session` shows the live
id (or "" when there is none), `logon` opens one, `logoff` closes it, and the firmware
drops a session idle for 60 s. pyasic 0.79 caches the id it first got and never logs
on again, so after an idle minute its privileged commands fail with "Invalid session
id" until its cached token is reset; this table reproduces exactly that.

Pure: `now` is passed in (real monotonic seconds in the server, anything in tests).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

_ALPHABET = string.ascii_letters + string.digits


def _new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


@dataclass(slots=True)
class _Session:
    sid: str
    last_used: float


class SessionBook:
    """Sessions of every rig in a fleet, keyed by rig index (only touched rigs cost memory)."""

    def __init__(self, timeout_s: float = 60.0, token: Callable[[], str] = _new_token) -> None:
        self.timeout_s = timeout_s
        self._token = token
        self._by_rig: dict[int, _Session] = {}

    def _live(self, rig: int, now: float) -> _Session | None:
        s = self._by_rig.get(rig)
        if s is not None and now - s.last_used > self.timeout_s:
            del self._by_rig[rig]
            return None
        return s

    def current(self, rig: int, now: float) -> str:
        """The live session id, or "" (does not count as use)."""
        s = self._live(rig, now)
        return s.sid if s else ""

    def logon(self, rig: int, now: float) -> str | None:
        """Open a session; None when another one is live."""
        if self._live(rig, now) is not None:
            return None
        s = _Session(self._token(), now)
        self._by_rig[rig] = s
        return s.sid

    def use(self, rig: int, sid: str, now: float) -> bool:
        """True (and the idle timer restarts) when sid is the rig's live session."""
        s = self._live(rig, now)
        if s is None or not sid or s.sid != sid:
            return False
        s.last_used = now
        return True

    def logoff(self, rig: int, sid: str, now: float) -> bool:
        if not self.use(rig, sid, now):
            return False
        del self._by_rig[rig]
        return True

    def drop(self, rig: int) -> None:
        """Forget a rig's session (it rebooted)."""
        self._by_rig.pop(rig, None)
