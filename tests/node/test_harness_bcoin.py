"""The bcoin harness itself: a clean start and stop, and a loud failure in CI when the
binary is missing."""

from __future__ import annotations

import socket

import pytest

from tests.components.bcoin import BcoinMissing, BcoinNode, bcoin_binary
from tests.components.fixtures import require_bcoin

pytestmark = pytest.mark.integration


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_fresh_node_starts_at_genesis_and_stop_leaves_nothing(bcoin_fresh: BcoinNode) -> None:
    assert bcoin_fresh.height == 0
    assert bcoin_fresh.wallet_address().startswith("R")
    assert len(bcoin_fresh.mine(3)) == 3 and bcoin_fresh.height == 3
    prefix, proc, port = bcoin_fresh.workdir, bcoin_fresh.proc, bcoin_fresh.rpc_port
    assert prefix is not None and prefix.is_dir() and proc is not None
    bcoin_fresh.stop()
    assert proc.poll() is not None and not prefix.exists()
    assert not port_open(port)
    assert bcoin_fresh.log_tail() == ""


def test_missing_binary_is_named_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURPLUS_BCOIN", "/nonexistent/bcoin")
    with pytest.raises(BcoinMissing, match=r"/nonexistent/bcoin.*make components"):
        bcoin_binary()
    for ci in ("true", ""):
        monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match="required component is missing"):
            require_bcoin()
