"""Every test that opens a PostgreSQL database carries the `integration` marker, so
`pytest -m "not integration"` runs without one (tests/conftest.py marks them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collected(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         *args, "tests/ledger", "tests/pool/test_crash.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_no_postgres_variant_outside_the_integration_marker() -> None:
    everything = collected()
    unmarked = collected("-m", "not integration")
    on_postgres = [t for t in everything if "postgres" in t]
    assert len(on_postgres) > 30  # the ledger's tests run on both backends
    assert unmarked and not [t for t in unmarked if "postgres" in t]
