"""A moment as an operator types it on a command line or in a query: epoch seconds, or
ISO 8601 with a UTC offset ("2025-06-01T00:00:00Z"). One rule for every report."""

from __future__ import annotations

from datetime import datetime


def parse_when(text: str, what: str) -> float:
    """Epoch seconds of `text`; ValueError naming `what` when it is neither form or has no
    UTC offset (a local time would be read differently on another machine)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{what}: {text[:40]!r} is neither epoch seconds nor an ISO 8601 time"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(
            f"{what}: {text[:40]!r} has no UTC offset; expected e.g. 2025-06-01T00:00Z"
        )
    return dt.timestamp()
