"""What a test does when a real component it needs is missing: it fails, naming it.

The tests talk to real components (bcoin, PostgreSQL, Prometheus); `make test` installs
or starts them, so a missing one is a broken machine, never a reason to pass quietly.
"""

from __future__ import annotations

from typing import NoReturn

import pytest


def component_missing(message: str) -> NoReturn:
    pytest.fail(f"a required component is missing: {message}", pytrace=False)
