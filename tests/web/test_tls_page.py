"""The miners' page tells miners the Stratum over TLS URL when the pool has a TLS
listener (and no tls_url is configured): the page's own host name with the listener's
port, in a real browser against a real pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from pool.app import PoolApp
from tests.components.browser import browser
from tests.pool.support import pool_config
from tests.stratum.certs import self_signed
from tests.stratum.pool_process import PAYOUT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_the_page_shows_the_tls_listener(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = pool_config(
        mode="solo", network="regtest", payout_address=PAYOUT, node={"devnet": True},
        stratum={"tls_listen": "127.0.0.1:0", "tls_cert": str(cert), "tls_key": str(key)},
        stats_api={"listen": "127.0.0.1:0"},
    )
    async with PoolApp(config) as app, browser(tmp_path / "profile") as context:
        assert app.server is not None and app.server.tls_address is not None
        page = await context.new_page()
        await page.goto(f"{app.stats_url}/")
        await page.wait_for_selector("[data-field=tls_url]")
        shown = await page.text_content("[data-field=tls_url]")
        host = app.stats_url.split("//", 1)[1].rsplit(":", 1)[0] if app.stats_url else ""
        assert shown == f"stratum+ssl://{host}:{app.server.tls_address[1]}"
