"""The coordinator reads the hashrate the pool credits each site's account from the
pool's stats API (GET /api/v1/accounts/{account}, the shape pool.stats_schema.Account
describes), and merit order follows it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from coordinator.config import parse_config
from coordinator.daemon import ControlDaemon
from pool.stats_schema import Account
from tests.components.process import free_port
from tests.loopback_http import JsonServer, Request

ACCOUNTS = {"north": 100e15, "south": 50e15}


def answer(req: Request) -> tuple[int, bytes]:
    name = req.path.rsplit("/", 1)[-1]
    if not req.path.startswith("/api/v1/accounts/") or name not in ACCOUNTS:
        return 404, b'{"error": "no account"}'
    body = {"account": name, "hashrate_hs": ACCOUNTS[name], "accepted_shares": 10, "workers": []}
    Account.model_validate(body)  # what the pool serves, by its own schema
    return 200, json.dumps(body).encode()


def test_the_daemon_reads_each_sites_credited_hashrate(tmp_path: Path) -> None:
    pool = JsonServer(answer).start()
    key = tmp_path / "k"
    key.write_text("k" * 40)
    os.environ["POOL_TEST_TOKEN"] = "pool-test-token-0123456789"
    cfg = parse_config(
        {
            "control": {
                "portfolio_mw": 1.0,
                "state_file": str(tmp_path / "s.json"),
                "audit_path": str(tmp_path / "a.jsonl"),
                "site_timeout_s": 1.0,
            },
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "metrics": {"enabled": False},
            "pool": {"stats_url": pool.url},
            "sites": {
                "north": {
                    "api_url": "http://127.0.0.1:9",
                    "key_file": str(key),
                    "licence_mw": 1.0,
                    "pool_account": "north",
                },
                "south": {
                    "api_url": "http://127.0.0.1:9",
                    "key_file": str(key),
                    "licence_mw": 1.0,
                    "pool_account": "south",
                },
            },
        }
    )

    async def main() -> None:
        async with ControlDaemon(cfg) as daemon:
            sites = daemon.core.sites
            assert sites["north"].pool_hs == pytest.approx(100e15)
            assert sites["south"].pool_hs == pytest.approx(50e15)
            assert sites["north"].report_error  # fleetd is not there: said, not hidden

    try:
        asyncio.run(main())
    finally:
        pool.close()
