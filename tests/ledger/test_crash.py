"""kill -9 while shares are being written: every share whose await returned (and so got
`true`) is in the ledger afterwards, for both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from pool.ledger import open_store

from .conftest import MakeConfig

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]


# The durability settings (see pool.ledger.config) all promise the same for a kill -9 of
# the pool: the defaults also survive power loss, the relaxed ones only process crashes.
# Pipelined group commit is the default; a 1 ms linger is the other trigger policy.
DURABILITY = {
    "defaults": {},
    "relaxed": {"sqlite_synchronous": "NORMAL", "pg_synchronous_commit": "off"},
    "linger": {"commit_delay_ms": 1},
}


@pytest.mark.parametrize("durability", DURABILITY)
def test_acknowledged_shares_survive_sigkill(make_config: MakeConfig, durability: str) -> None:
    config = make_config(**DURABILITY[durability])
    open_store(config).close()  # migrate first so the child starts writing at once
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), config.model_dump_json()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert child.stdout is not None
    received = b""
    deadline = time.monotonic() + 60
    try:
        # let it get well into writing, then kill it in the middle of a commit stream
        while received.count(b"\n") < 3000 and time.monotonic() < deadline:
            chunk = os.read(child.stdout.fileno(), 65536)
            if not chunk:
                break
            received += chunk
        assert received.count(b"\n") >= 3000, child.stderr.read().decode()  # type: ignore[union-attr]
        child.send_signal(signal.SIGKILL)
        received += child.stdout.read()  # acks written before the kill are in the pipe
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    acked = [tuple(map(int, line.split())) for line in received.decode().splitlines()]
    assert len(acked) >= 3000

    store = open_store(config)
    try:
        stored = dict(store.shares())
    finally:
        store.close()
    missing = [(i, seq) for i, seq in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged shares lost, e.g. {missing[:5]}"
    for share_id, seq in acked:
        got = stored[share_id]
        assert got.job_id == str(seq)
        assert got.difficulty == Fraction(seq % 97 + 1, 3)
    # the kill came while writing: typically more is stored than was acknowledged
    assert len(stored) >= len(acked)
