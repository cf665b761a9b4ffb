"""A live feed explains itself: every bad payload is counted, logged (rate-limited, outside
text escaped) with what was wrong, and its state, reason and how long it has been in
trouble reach the status the API and the metrics read. One real `surplus fleetd` process
checks that INFO lines appear whatever pyasic did to logging at import.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from fleetd.allotment import ConstantSource, HttpJsonFeed, SiteAllotment
from fleetd.allotment.health import Throttle
from fleetd.api import allotment_view
from tests.components.process import free_port, stop_process
from tests.loopback_http import serve_app

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0

BAD = {
    # name: (raw body, what the log line must say)
    "garbage": (b"<html>maintenance</html>", "not JSON"),
    "empty": (b"", "empty message"),
    "nan": (b'{"mw": NaN}', "expected finite megawatts in [0, 100000], got nan"),
    "infinity": (b'{"mw": Infinity}', "got inf"),
    "negative": (b'{"mw": -5}', "got -5"),
    "huge": (b'{"mw": 1e300}', "got 1e+300"),
    "string": (b'{"mw": "412"}', "expected a number of megawatts, got '412'"),
    "bool": (b'{"mw": true}', "got True"),
    "null": (b"null", "expected a JSON object, got NoneType"),
    "array": (b"[1, 2]", "expected a JSON object, got list"),
    "missing field": (b'{"allotment": 4}', "message has no 'mw'"),
    "bad as_of": (b'{"mw": 4, "as_of": "yesterday"}', "'yesterday' is not an ISO 8601 time"),
    "as_of without offset": (b'{"mw": 4, "as_of": "2025-06-21T06:00:00"}', "no UTC offset"),
}


def feed(**kw: object) -> HttpJsonFeed:
    clock = kw.pop("clock", lambda: T0)
    return HttpJsonFeed("tso", "http://127.0.0.1:9/", stale_after_s=10.0, floor_mw=1.0,
                        clock=clock, **kw)  # type: ignore[arg-type]  # fmt: skip


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("fleetd")]


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_payload_is_counted_logged_and_named(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    f = feed()
    body, expected = BAD[name]
    assert not f.handle_bytes(body)
    assert f.state.errors == 1 and expected in f.state.last_error
    logged = lines(caplog)
    assert any(ln.startswith("allotment feed 'tso': ") and expected in ln for ln in logged), logged
    st = f.status(T0)
    assert st.state == "stale" and expected in st.reason and st.failing_since == T0


def test_an_out_of_order_message_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    f = feed()
    assert f.handle({"mw": 5.0, "as_of": T0 - 1})
    assert not f.handle({"mw": 9.0, "as_of": T0 - 60})  # older than the figure held
    assert f.current(T0).mw == 5.0 and f.state.errors == 1
    assert any("is older than the figure held" in ln and "ignored" in ln for ln in lines(caplog))
    st = f.status(T0)
    assert st.state == "failing" and "older than the figure held" in st.reason


def test_failures_are_rate_limited_per_kind_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    now = {"t": T0}
    f = feed(clock=lambda: now["t"])
    for _ in range(100):
        f.handle_bytes(b"garbage")
        now["t"] += 0.1
    f.handle_bytes(b'{"mw": -1}')  # a new kind of trouble is logged at once
    garbage = [ln for ln in lines(caplog) if ln.startswith("allotment feed 'tso': message")]
    assert len(garbage) == 1 and any("got -1" in ln for ln in lines(caplog))
    now["t"] += 30.0
    f.handle_bytes(b"garbage")
    again = [ln for ln in lines(caplog) if ln.startswith("allotment feed 'tso': message")]
    assert len(again) == 2 and "(99 more like it in the last 40 s)" in again[-1]
    assert f.state.errors == 102


def test_outside_text_is_escaped_and_bounded_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    f = feed()
    forged = "x\n2099-01-01 00:00:00 ERROR fleetd: FORGED \x1b[31mred" + "y" * 5000
    f.handle({forged: 1})
    f.handle({"mw": 1, "as_of": forged})
    f.handle_bytes(b"\x00\x1b[31m" + b"z" * 5000)
    for ln in lines(caplog):
        assert "\n" not in ln and "\x1b" not in ln and "\x00" not in ln, ln
        assert len(ln) < 600, len(ln)
    assert f.state.errors == 3


def test_stale_and_recovery_are_logged_once_with_how_long(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    now = {"t": T0}
    f = feed(clock=lambda: now["t"])
    assert f.handle({"mw": 5.0, "as_of": T0})
    assert any("first figure 5 MW" in ln for ln in lines(caplog))
    for _ in range(30):  # the server answers 503 for 15 s
        now["t"] += 0.5
        f.fail("tso: HTTP 503 'Service Unavailable'")
        f.check()
    st = f.status(now["t"])
    assert st.state == "stale" and st.reason == "tso: HTTP 503 'Service Unavailable'"
    assert st.failing_for_s(now["t"]) == pytest.approx(14.5)
    stale = [ln for ln in lines(caplog) if "stale:" in ln]
    assert stale == ["allotment feed 'tso' stale: HTTP 503 'Service Unavailable'; the floor of "
                     "1 MW applies (last figure 5 MW)"]  # fmt: skip
    assert "HTTP 503" in f.current(now["t"]).detail  # the reason fleetd steers by says why
    assert f.handle({"mw": 4.0, "as_of": now["t"]})
    assert "allotment feed 'tso' recovered after 14.5 s: 4 MW (30 failures)" in lines(caplog)
    assert f.status(now["t"]).state == "ok" and f.status(now["t"]).failing_since is None


def test_a_frozen_as_of_says_so() -> None:
    f = feed()
    assert f.handle({"mw": 5.0, "as_of": T0 - 30}, received_at=T0)
    st = f.status(T0)
    assert st.state == "stale" and "as_of has not advanced since" in st.reason
    assert st.failing_for_s(T0) == pytest.approx(30.0)


def test_throttle_bounds_the_kinds_it_remembers() -> None:
    log = logging.getLogger("fleetd.test")
    t = Throttle(every_s=30.0)
    logged = sum(t.warn(log, f"kind-{i}", T0, "x") for i in range(1000))
    assert logged <= 33 and t.active


async def test_http_failures_say_what_went_wrong(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status = {"code": 503}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status["code"], text="unavailable")

    app = web.Application()
    app.router.add_get("/", handler)
    runner, base = await serve_app(app)
    try:
        f = HttpJsonFeed("tso", f"{base}/", stale_after_s=10.0, floor_mw=1.0)
        assert not await f.poll_once()
        assert f.state.last_error == "tso: HTTP 503 'Service Unavailable'"
    finally:
        await runner.cleanup()
    refused = HttpJsonFeed("gone", f"{base}/", timeout_s=1.0, floor_mw=1.0)
    assert not await refused.poll_once()
    assert "cannot connect (Connection refused)" in refused.state.last_error
    assert any("allotment feed 'tso': HTTP 503" in ln for ln in lines(caplog))


def test_the_allotment_view_shows_each_source_its_state_and_why() -> None:
    now = {"t": T0}
    f = feed(clock=lambda: now["t"])
    f.handle({"mw": 5.0, "as_of": T0})
    now["t"] += 12.0
    f.fail("tso: no answer within 3 s (ReadTimeout)")
    allot = SiteAllotment([f, ConstantSource(8.0, name="licence")])
    ctl = SimpleNamespace(name="s", clock=lambda: now["t"], site=SimpleNamespace(allotment=allot))
    view = allotment_view(ctl)  # type: ignore[arg-type]
    assert view["allotment_mw"] == 1.0 and view["bound_by"] == "tso" and view["stale"]
    assert view["in_force_mw"] == 5.0  # what the grid operator last granted
    assert "no answer within 3 s" in view["reason"]
    tso, licence = view["sources"]
    assert (tso["state"], tso["reason"], tso["failing_for_s"]) == (
        "stale", "tso: no answer within 3 s (ReadTimeout)", 0.0)
    assert tso["age_s"] == 12.0 and tso["errors"] == 1
    assert licence["state"] == "ok" and licence["failing_for_s"] is None
    json.dumps(view, allow_nan=False)


@pytest.mark.timeout(60)
def test_a_real_fleetd_process_logs_at_info(tmp_path: Path) -> None:
    """pyasic sets the root logger to WARNING when imported; --log-level must still hold."""
    api, metrics, dead = free_port(), free_port(), free_port()
    cfg = tmp_path / "fleetd.toml"
    cfg.write_text(
        f'[api]\nlisten = "127.0.0.1:{api}"\n[metrics]\nlisten = "127.0.0.1:{metrics}"\n'
        f'[audit]\npath = "{tmp_path / "audit.jsonl"}"\n[sites.a]\ncontrol_period_s = 1\n'
        f'allotment = [{{kind = "http_json", name = "grid", url = "http://127.0.0.1:{dead}/", '
        f'interval_s = 0.2, timeout_s = 0.5, stale_after_s = 1, floor_mw = 0.01}}]\n'
        '[[sites.a.rigs]]\nhost = "127.0.0.1"\nmodel = "S19"\n'
    )
    log_path = tmp_path / "fleetd.log"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "surplus.cli", "fleetd", "--config", str(cfg),
             "--log-level", "info"], stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 45
            feed = " WARNING fleetd.allotment: allotment feed 'grid' of site 'a'"
            wanted = (" INFO fleetd.daemon: fleetd API on http://127.0.0.1:",
                      f"{feed}: cannot connect (Connection refused)",
                      f"{feed} stale: cannot connect")
            while not all(w in log_path.read_text() for w in wanted):
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"missing {wanted}:\n{log_path.read_text()}"
                time.sleep(0.2)
        finally:
            stop_process(proc, 10)
    text = log_path.read_text()
    assert text.count("allotment feed 'grid' of site 'a': cannot connect") <= 2  # rate-limited
    assert "Traceback" not in text
