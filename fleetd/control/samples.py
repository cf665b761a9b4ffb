"""Per-cycle samples: the site's power against its allotment, as append-only JSON lines.

The compliance report (fleetd.report) is built from these and the audit log. One line
per control cycle covers [t0, t1): energy drawn, seconds and energy above the allotment,
the allotment's time average and minimum, and the commands sent. Lines are flushed as
they are written and fsync'd in batches (like the audit log).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SampleError(ValueError):
    """A samples file is unreadable at a named line."""


def samples_path_for(audit_path: str | Path) -> Path:
    """Where the samples live: next to the audit log ("audit.jsonl" -> "audit.samples.jsonl")."""
    p = Path(audit_path)
    return p.with_name(p.stem + ".samples.jsonl")


class SampleLog:
    def __init__(self, path: str | Path, *, fsync_interval_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("ab")
        size = self.path.stat().st_size
        if size:
            with self.path.open("rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._f.write(b"\n")  # a torn last line stays alone on its line
        self.fsync_interval_s = fsync_interval_s
        self._last_sync = time.monotonic()
        self.written = 0

    def write(self, sample: dict[str, Any]) -> None:
        self._f.write(json.dumps(sample, separators=(",", ":"), sort_keys=True).encode() + b"\n")
        self._f.flush()
        self.written += 1
        if time.monotonic() - self._last_sync >= self.fsync_interval_s:
            os.fsync(self._f.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()


def read_samples(
    path: str | Path,
    *,
    site: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Samples overlapping [since, until), in file order; a torn line is skipped only when
    it is the last of the file."""
    p = Path(path)
    try:
        lines = p.read_bytes().split(b"\n")
    except OSError as exc:
        raise SampleError(f"{p}: cannot read samples: {exc.strerror}") from None
    last = max((k for k, raw in enumerate(lines) if raw.strip()), default=-1)
    for k, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            s = json.loads(raw)
            t0, t1 = float(s["t0"]), float(s["t1"])
        except (ValueError, KeyError, TypeError):
            if k == last:
                return
            # a torn write followed by more lines: only ever a single partial line
            if not raw.endswith(b"}") and k + 1 < len(lines):
                continue
            raise SampleError(f"{p}: line {k + 1}: not a sample") from None
        if site is not None and s.get("site") != site:
            continue
        if since is not None and t1 <= since:
            continue
        if until is not None and t0 >= until:
            continue
        yield s
