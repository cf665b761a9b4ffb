"""The audit log: every command fleetd sends, with the signal that caused it and the result.

A regulator asks "why did this rig sleep at 14:02, and what told you to?", so each
record carries the allotment change id and reason next to the rig, the command and its
outcome. The log is JSON lines, opened for append only; records are written as they come
and fsync'd in batches (every `fsync_every` records, or `fsync_interval_s` after the
oldest unsynced one, checked on each append and on `tick()`), trading at most one batch
on power loss for not syncing per command when thousands of rigs are shed at once.

Records are encoded with orjson straight from their fields (no dataclasses.asdict deep
copy): a shed of thousands of rigs writes thousands of records in one go, on the event
loop. Numbers that are not finite are written as null, so every line is standard JSON.

A crash can leave a partial last line. Reopening the log appends a `recovered` record
after it, so a reader can tell a torn write (skipped) from corruption (an error naming the
line).

    log = AuditLog("fleetd-audit.jsonl")
    log.command("north", result, Signal("tso@1718000000", "feed 'tso' 3.2 MW"))
    for rec in read_audit("fleetd-audit.jsonl", site="north", since=t0, until=t1): ...
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson

from fleetd.drivers.base import ApplyResult

Kind = Literal["command", "signal", "note", "recovered"]

_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_ALWAYS = ("seq", "ts", "kind", "site", "ok")  # written even when empty


class AuditError(ValueError):
    """The audit log is unreadable at a named line, or is used after close."""


@dataclass(frozen=True, slots=True)
class Signal:
    """What caused a command: the allotment change (its id) and the reason in words."""

    change_id: str
    reason: str
    allotment_mw: float | None = None
    bound_by: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: float  # epoch seconds the record was written
    kind: str
    site: str
    signal: Signal | None = None
    rig: str | None = None
    command: str | None = None  # str(Target): "sleep", "wake:350MHz", "watts:2000W", ...
    ok: bool | None = None
    error: str = ""
    attempts: int = 0
    latency_s: float = 0.0
    plan_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as written: empty fields (None, "", {}) left out, except _ALWAYS."""
        d: dict[str, Any] = {"seq": self.seq, "ts": self.ts, "kind": self.kind,
                             "site": self.site, "ok": self.ok}  # fmt: skip
        sig = self.signal
        if sig is not None:
            d["signal"] = {"change_id": sig.change_id, "reason": sig.reason,
                           "allotment_mw": sig.allotment_mw, "bound_by": sig.bound_by}  # fmt: skip
        for k, v in (
            ("rig", self.rig), ("command", self.command), ("error", self.error),
            ("attempts", self.attempts), ("latency_s", self.latency_s),
            ("plan_id", self.plan_id), ("extra", self.extra),
        ):  # fmt: skip
            if v is not None and v != "" and v != {}:
                d[k] = v
        return d

    def to_bytes(self) -> bytes:
        """One JSON line's content (compact, keys sorted), without the newline."""
        d = self.to_dict()
        try:
            return orjson.dumps(d, option=_ORJSON_OPTS)
        except orjson.JSONEncodeError:  # e.g. an int beyond 64 bits in `extra`
            return json.dumps(d, separators=(",", ":"), sort_keys=True, default=str).encode()

    def to_json(self) -> str:
        return self.to_bytes().decode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditRecord:
        sig = d.get("signal")
        return cls(
            seq=int(d["seq"]), ts=float(d["ts"]), kind=str(d["kind"]), site=str(d["site"]),
            signal=Signal(**sig) if isinstance(sig, dict) else None, rig=d.get("rig"),
            command=d.get("command"), ok=d.get("ok"), error=d.get("error", ""),
            attempts=int(d.get("attempts", 0)), latency_s=float(d.get("latency_s", 0.0)),
            plan_id=d.get("plan_id"), extra=dict(d.get("extra", {})),
        )  # fmt: skip


def _loads(raw: bytes) -> Any:
    """One line's JSON; logs written before records were encoded with orjson may hold
    NaN (json's extension), which orjson refuses, so json gets a second look."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _tail(path: Path) -> tuple[int, bool, int]:
    """(last seq in the file, whether it ends mid-line, bytes in the partial line)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, False, 0
    if size == 0:
        return 0, False, 0
    with path.open("rb") as f:
        f.seek(max(0, size - 65536))
        chunk = f.read()
    torn = not chunk.endswith(b"\n")
    lines = chunk.split(b"\n")
    partial = len(lines[-1]) if torn else 0
    for raw in reversed(lines[:-1] if torn else lines):
        try:
            return int(_loads(raw)["seq"]), torn, partial
        except (ValueError, KeyError, TypeError):
            continue
    return 0, torn, partial


class AuditLog:
    """Append-only JSON-lines writer with batched fsync."""

    def __init__(
        self,
        path: str | Path,
        *,
        fsync_every: int = 100,
        fsync_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fsync_every < 1 or not fsync_interval_s > 0:
            raise AuditError("fsync_every must be >= 1 and fsync_interval_s > 0")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync_every = fsync_every
        self.fsync_interval_s = fsync_interval_s
        self.clock = clock
        self.seq, torn, partial = _tail(self.path)
        self._f = self.path.open("ab")
        self._pending = 0
        self._oldest: float | None = None  # monotonic time of the oldest unsynced record
        self.syncs = 0
        if torn:
            self._f.write(b"\n")
            self._write(AuditRecord(self.seq + 1, clock(), "recovered", "",
                                    extra={"torn_bytes": partial}))  # fmt: skip
            self.flush()

    # ------------------------------------------------------------------ writing

    def _write(self, rec: AuditRecord) -> AuditRecord:
        if self._f.closed:
            raise AuditError(f"{self.path}: audit log is closed")
        self.seq = rec.seq
        self._f.write(rec.to_bytes() + b"\n")
        self._pending += 1
        if self._oldest is None:
            self._oldest = time.monotonic()
        if self._pending >= self.fsync_every:
            self.flush()
        else:
            self.tick()
        return rec

    def command(
        self,
        site: str,
        result: ApplyResult,
        signal: Signal,
        *,
        plan_id: str | None = None,
        **extra: Any,
    ) -> AuditRecord:
        """Record one command's outcome and the signal that caused it."""
        rec = AuditRecord(
            self.seq + 1, self.clock(), "command", site, signal, result.host,
            str(result.target), result.ok, result.error, result.attempts,
            round(result.latency_s, 6), plan_id, extra,
        )  # fmt: skip
        return self._write(rec)

    def signal(self, site: str, signal: Signal, **extra: Any) -> AuditRecord:
        """Record an allotment change (or any signal) as it is acted on."""
        return self._write(
            AuditRecord(self.seq + 1, self.clock(), "signal", site, signal, extra=extra)
        )

    def note(self, site: str, text: str, **extra: Any) -> AuditRecord:
        """Anything else a reviewer should see (emergency stop, operator action)."""
        return self._write(
            AuditRecord(self.seq + 1, self.clock(), "note", site, extra={"text": text, **extra})
        )

    def tick(self) -> None:
        """fsync if the oldest unsynced record has waited fsync_interval_s."""
        if self._oldest is not None and time.monotonic() - self._oldest >= self.fsync_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write out and fsync everything appended so far."""
        if self._f.closed:
            return
        self._f.flush()
        if self._pending:
            os.fsync(self._f.fileno())
            self.syncs += 1
        self._pending = 0
        self._oldest = None

    @property
    def unsynced(self) -> int:
        return self._pending

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_audit(
    path: str | Path,
    *,
    site: str | None = None,
    since: float | None = None,
    until: float | None = None,
    kinds: tuple[str, ...] | None = None,
) -> Iterator[AuditRecord]:
    """Records in file order, filtered by site, time window [since, until) and kind.

    A torn line is skipped when it is the file's last or is followed by a `recovered`
    record; any other unreadable line raises AuditError naming the file and line.
    """
    p = Path(path)
    try:
        f = p.open("rb")
    except OSError as exc:
        raise AuditError(f"{p}: cannot read audit log: {exc.strerror}") from None
    with f:
        yield from _records(p, f, site, since, until, kinds)


def _records(
    p: Path,
    lines: Any,
    site: str | None,
    since: float | None,
    until: float | None,
    kinds: tuple[str, ...] | None,
) -> Iterator[AuditRecord]:
    bad: tuple[int, str] | None = None  # a torn line waiting for its `recovered` record
    for n, raw in enumerate(lines, start=1):
        try:
            rec = AuditRecord.from_dict(_loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            if bad is not None:
                raise AuditError(f"{p}: line {bad[0]}: not an audit record ({bad[1]})") from None
            bad = (n, str(exc))
            continue
        if bad is not None:
            if rec.kind != "recovered":
                raise AuditError(f"{p}: line {bad[0]}: not an audit record ({bad[1]})")
            bad = None
        if site is not None and rec.site != site and rec.kind != "recovered":
            continue
        if since is not None and rec.ts < since:
            continue
        if until is not None and rec.ts >= until:
            continue
        if kinds is not None and rec.kind not in kinds:
            continue
        yield rec
