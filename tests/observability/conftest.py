"""Fixtures for the observability tests: the real Prometheus and promtool they need.

A missing Prometheus fails the test when CI=true (never a silent skip in CI) and skips
it locally, with the command that installs it.
"""

from __future__ import annotations

import pytest

from tests.components.prometheus import PrometheusMissing, prometheus_binary, promtool_binary
from tests.components.require import component_missing


def require_prometheus() -> None:
    try:
        prometheus_binary()
        promtool_binary()
    except PrometheusMissing as exc:
        component_missing(str(exc))


@pytest.fixture
def promtool() -> None:
    """promtool is installed (or the test fails in CI / skips locally)."""
    require_prometheus()
