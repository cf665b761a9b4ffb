"""Makes the component fixtures (``bcoin``, ``bcoin_module``, ``bcoin_fresh``) available
here even before the root conftest registers ``components.fixtures``; never twice."""

from __future__ import annotations

import pytest

PLUGIN = "tests.components.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
