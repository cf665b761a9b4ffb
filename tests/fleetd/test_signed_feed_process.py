"""A signed allotment feed against a real `surplus fleetd` process (with `surplus rigsim`
rigs): fleetd takes the signed figure, refuses forged, unsigned, replayed and stale
messages (counted in its /metrics, logged bounded and escaped), and falls back to the
feed's floor by its stale rule while only refused messages arrive."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plumbing.signing import sign
from tests.components.process import free_port
from tests.fleetd.site_procs import SITE, Group, SiteProcesses, SiteSpec
from tests.loopback_http import JsonServer, Request
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

KEY = "signed-feed-test-key-0123456789abcdef"
STALE_S, FLOOR_MW, GOOD_MW = 4.0, 0.004, 0.02


class SignedFeed:
    """The coordinator's side: answers each poll as `mode` says (good, forged, unsigned,
    replay of an earlier message, stale)."""

    def __init__(self) -> None:
        self.mode = "good"
        self.mw = GOOD_MW
        self.seq = 0
        self.kept: dict[str, str] | None = None
        self.lock = threading.Lock()

    def answer(self, _: Request) -> tuple[int, bytes]:
        with self.lock:
            self.seq += 1
            now = time.time()
            fields = {"mw": self.mw, "as_of": now, "id": f"ctl-{self.seq}"}
            if self.mode == "good":
                env = sign(KEY.encode(), SITE, self.seq, now, fields)
                self.kept = env
            elif self.mode == "forged":
                env = sign(b"not-the-site-key-but-long-enough-0000", SITE, self.seq, now,
                           fields | {"mw": 1.0})  # fmt: skip
            elif self.mode == "replay":
                assert self.kept is not None
                env = self.kept
            elif self.mode == "stale":
                env = sign(KEY.encode(), SITE, self.seq, now - 60, fields | {"as_of": now - 60})
            else:  # unsigned, with a key that tries to forge a log line
                return 200, json.dumps({"mw": 1.0, "as_of": now,
                                        "x\nFORGED LOG LINE\x1b[2J": 1}).encode()  # fmt: skip
        return 200, json.dumps(env).encode()


def test_fleetd_takes_only_signed_fresh_messages(tmp_path: Path) -> None:
    feed = SignedFeed()
    server = JsonServer(feed.answer, port=free_port()).start()
    key_file = tmp_path / "site.key"
    key_file.write_text(KEY + "\n")
    allotment = [{
        "kind": "http_json", "name": "ctl", "url": f"{server.url}/feed", "interval_s": 0.5,
        "timeout_s": 1.0, "stale_after_s": STALE_S, "floor_mw": FLOOR_MW,
        "signing": {"key_file": str(key_file), "max_age_s": 10.0},
    }]  # fmt: skip
    spec = SiteSpec(groups=(Group("S19", 4),), allotment_mw=GOOD_MW,
                    site={"control_period_s": 1.0, "allotment": allotment})  # fmt: skip

    async def main() -> None:
        async with SiteProcesses(spec, tmp_path) as site, aiohttp.ClientSession() as http:
            metrics_url = f"http://127.0.0.1:{site.ports['metrics']}/metrics"

            async def view() -> dict[str, Any]:
                async with http.get(f"{site.api}/sites/{SITE}/allotment") as r:
                    return await r.json()

            async def refused(reason: str) -> float:
                async with http.get(metrics_url) as r:
                    text = await r.text()
                m = re.search(r'surplus_fleetd_allotment_feed_refused_total\{[^}]*reason="'
                              + reason + r'"[^}]*\} (\S+)', text)  # fmt: skip
                return float(m.group(1)) if m else -1.0

            async def is_mw(mw: float, state: str) -> bool:
                v = await view()
                return abs(v["allotment_mw"] - mw) < 1e-9 and v["sources"][0]["state"] == state

            await wait_until(lambda: is_mw(GOOD_MW, "ok"), 60, "the signed figure in force")
            assert await refused("forged") == 0.0

            # forged: refused and counted; the figure held; then the floor by the stale rule
            feed.mode = "forged"
            await wait_until(lambda: _gt(refused("forged"), 1), 10, "forged messages counted")
            assert (await view())["allotment_mw"] == pytest.approx(GOOD_MW)
            await wait_until(
                lambda: is_mw(FLOOR_MW, "stale"), 3 * STALE_S, "the stale feed's floor"
            )

            feed.mode = "good"
            await wait_until(lambda: is_mw(GOOD_MW, "ok"), 10, "recovery on a good message")
            for mode in ("replay", "unsigned", "stale"):
                feed.mode = mode
                reason = {"replay": "replayed"}.get(mode, mode)
                await wait_until(
                    lambda r=reason: _gt(refused(r), 1), 10, f"{mode} messages counted"
                )  # type: ignore[misc]
            # none of them moved the figure up: the site sits at the floor (stale) or holds
            assert (await view())["allotment_mw"] <= GOOD_MW
            await wait_until(lambda: is_mw(FLOOR_MW, "stale"), 3 * STALE_S, "the floor again")
            site.check_alive()

        log = (tmp_path / "fleetd.log").read_text()
        for words in ("forged message", "replayed message", "unsigned message", "stale message"):
            assert words in log
        assert "\x1b" not in log
        assert not any(line.startswith("FORGED LOG LINE") for line in log.splitlines())
        # bounded: a refusal a poll (every 0.5 s) logs at most one line per kind per 30 s
        assert log.count("forged message") <= 3

    try:
        asyncio.run(main())
    finally:
        server.close()


async def _gt(value: Awaitable[float], than: float) -> bool:
    return await value >= than
