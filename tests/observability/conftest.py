"""Fixtures for the observability tests: the real Prometheus and promtool they need.

A missing Prometheus fails the test when CI=true (never a silent skip in CI) and skips
it locally, with the command that installs it.
"""

from __future__ import annotations

import pytest

from tests.components.fixtures import in_ci
from tests.components.prometheus import PrometheusMissing, prometheus_binary, promtool_binary


def require_prometheus() -> None:
    try:
        prometheus_binary()
        promtool_binary()
    except PrometheusMissing as exc:
        if in_ci():
            pytest.fail(f"CI=true and a required component is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def promtool() -> None:
    """promtool is installed (or the test fails in CI / skips locally)."""
    require_prometheus()
