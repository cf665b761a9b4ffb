"""What the coordinator must remember across its own restart, in one small JSON file.

    state = State.load(path)         # a missing file: a fresh state
    state.portfolio_mw = 42.0
    state.save(path)                 # written to a temporary file, fsynced, renamed

It holds the portfolio figure in force, the emergency stop, the operator's overrides, the
last allotment of each site (served again at once after a restart, so no site sees a
gap longer than the restart itself) and each site's last signed sequence number (the
feed's seq keeps rising; see plumbing.signing). A file that cannot be read is an error
naming it: starting from a blank state would silently lift an emergency stop.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


class StateError(ValueError):
    """The state file exists but cannot be used."""


@dataclass
class Override:
    mw: float
    by: str
    reason: str
    at: float
    expires_at: float


@dataclass
class Stop:
    by: str
    reason: str
    at: float


@dataclass
class State:
    portfolio_mw: float
    portfolio_by: str = "config"
    portfolio_at: float = 0.0
    revision: int = 0  # every change of what the sites are told
    stop: Stop | None = None
    overrides: dict[str, Override] = field(default_factory=dict)
    allotments: dict[str, float] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    split_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION} | asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> State:
        try:
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError(f"expected version {VERSION}")
            stop = data.get("stop")
            state = cls(
                portfolio_mw=_mw(data["portfolio_mw"]),
                portfolio_by=str(data.get("portfolio_by", ""))[:64],
                portfolio_at=float(data.get("portfolio_at", 0.0)),
                revision=int(data.get("revision", 0)),
                stop=None
                if stop is None
                else Stop(str(stop["by"])[:64], str(stop["reason"])[:256], float(stop["at"])),
                overrides={
                    str(k): Override(
                        _mw(o["mw"]),
                        str(o["by"])[:64],
                        str(o["reason"])[:256],
                        float(o["at"]),
                        float(o["expires_at"]),
                    )
                    for k, o in dict(data.get("overrides", {})).items()
                },
                allotments={str(k): _mw(v) for k, v in dict(data.get("allotments", {})).items()},
                seq={str(k): int(v) for k, v in dict(data.get("seq", {})).items()},
                split_at=float(data.get("split_at", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{where}: not a coordinator state file ({exc!r})") from None
        return state

    @classmethod
    def load(cls, path: Path, portfolio_mw: float) -> State:
        """The state in `path`, or a fresh one at `portfolio_mw` when there is no file."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(portfolio_mw=portfolio_mw)
        except OSError as exc:
            raise StateError(f"{path}: cannot read the state file: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(f"{path}: the state file is not JSON ({exc})") from None
        return cls.from_json(data, str(path))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        data = json.dumps(self.to_json(), indent=1, sort_keys=True).encode()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def override(self, site: str, now: float) -> Override | None:
        """The site's override in force at `now` (an expired one is dropped)."""
        o = self.overrides.get(site)
        if o is not None and o.expires_at <= now:
            del self.overrides[site]
            return None
        return o


def _mw(value: Any) -> float:
    mw = float(value)
    if not math.isfinite(mw) or not 0 <= mw <= 1e5:
        raise ValueError(f"megawatts out of range: {value!r}")
    return mw
