"""pytest fixtures for real components; the root conftest registers this module.

A missing component fails the test when CI=true (never a silent skip in CI) and skips
it locally, with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .bcoin import BcoinMissing, BcoinNode, bcoin_binary
from .require import component_missing


def require_bcoin() -> None:
    """Fail the current test, naming what to install, when bcoin is not installed."""
    try:
        bcoin_binary()
    except BcoinMissing as exc:
        component_missing(str(exc))


def _started() -> Iterator[BcoinNode]:
    require_bcoin()
    node = BcoinNode()
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def bcoin() -> Iterator[BcoinNode]:
    """One bcoin regtest node shared by the whole session. Other tests mine on it and
    fill its mempool: assert on what your test did, not on absolute heights."""
    yield from _started()


@pytest.fixture(scope="module")
def bcoin_module() -> Iterator[BcoinNode]:
    """A bcoin node for one test module, which may rely on its chain height."""
    yield from _started()


@pytest.fixture
def bcoin_fresh() -> Iterator[BcoinNode]:
    """A new bcoin node at height 0 for one test (about a second to start)."""
    yield from _started()
