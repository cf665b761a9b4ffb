"""Real jobs for the share checks, built by pool.jobs from template-shaped dicts."""

from __future__ import annotations

import time
from typing import Any

import pytest

import hashing
from pool.bitcoin.target import bits_to_target
from pool.jobs import JobFactory
from pool.jobs.job import Job

POOL_SCRIPT = bytes.fromhex("0014" + "33" * 20)


def template(*, bits: str = "1d00ffff", height: int = 500, ntx: int = 4) -> dict[str, Any]:
    now = int(time.time())
    txs = []
    for i in range(ntx):
        data = bytes([1, 0, 0, 0, 1]) + bytes([i + 7]) * 32 + bytes(12)
        txid = hashing.sha256d(data)[::-1].hex()
        txs.append({"data": data.hex(), "txid": txid, "hash": txid, "fee": 500})
    return {
        "version": 0x20000000,
        "previousblockhash": "00000000000000000001" + "ab" * 22,
        "transactions": txs,
        "coinbasevalue": 312_500_000 + 500 * ntx,
        "target": f"{bits_to_target(int(bits, 16)):064x}",
        "mintime": now - 3600,
        "curtime": now,
        "bits": bits,
        "height": height,
        "rules": ["segwit"],
    }


@pytest.fixture
def job() -> Job:
    return JobFactory(POOL_SCRIPT).from_template(template())


@pytest.fixture
def easy_job() -> Job:
    return JobFactory(POOL_SCRIPT).from_template(template(bits="207fffff"))
