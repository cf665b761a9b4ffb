"""The coordinator's audit log: one JSON object a line, appended and fsynced.

Every operator action (portfolio change, emergency stop, resume, override set or lifted)
is recorded with who did it (the name of the token used, never a field of the request),
why, and what came of it at each site; every change of the allotments the sites are sent
is recorded as a command, with the signal that caused it. The regulator's report
(coordinator.report) reads the commands back. The last RECENT records are also kept in
memory (read back from the file's tail at start) for the operator's console.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECENT = 200  # records kept in memory for the console
TAIL_BYTES = 256 * 1024  # how much of an existing log is read back at start


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.recent: deque[dict[str, Any]] = deque(_tail(path), maxlen=RECENT)

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": fields.pop("ts", None) or time.time(), "kind": kind} | fields
        self.write_all([record])
        return record

    def write_all(self, records: list[dict[str, Any]]) -> None:
        """Append `records` (each with its "ts" and "kind") with one fsync: a split that
        changes 500 sites' figures costs one sync, not 500."""
        if not records:
            return
        text = "".join(
            json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records
        )
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        self.recent.extend(records)


def _tail(path: Path) -> list[dict[str, Any]]:
    """The last whole records of the last TAIL_BYTES of `path` (none when it is absent)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return []
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first is cut
    out = []
    for line in lines[-RECENT:]:
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_audit(path: Path, kinds: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """The records of `path` (of `kinds`), skipping a torn last line."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and (kinds is None or rec.get("kind") in kinds):
                yield rec
