"""Each way an allotment feed can fail, against `surplus rigsim` and `surplus fleetd` run as
processes, with rigsim's site meter as the witness (issue 19, findings 5 and 6).

One rigsim process serves seven sites of eight rigs; one fleetd process controls them,
each site on its own feed (tests/fleetd/feed_faults.py) and reading its meter through a
gateway that keeps every reading it served. Once every site is settled under its live
figure, the feeds fail at once, each its own way (refused, reset, timeout, HTTP 503, a bad
body, a frozen as_of), and a seventh site's feed cuts its figure without notice. Then,
per site:

- the witness: the meter is under the floor no later than ON_TIME_S after the feed went
  stale (its last good as_of + stale_after_s), and stays there;
- fleetd's log names the site, the feed and what was wrong, and says it went stale;
- the API's allotment view gives the state, the reason and how long it has been failing;
- the metric gives the feed's state and its time in trouble;
- fleetd's above-cap figures match an independent integration of the meter readings it
  used: nothing above the allotment in force for a failing feed (the time spent coming
  down to fleetd's floor is counted apart), and the real breach of the unannounced cut.

ON_TIME_S is the watch tick (0.25 s) + one control cycle (1 s) + the rigs' shed (0.2 s) +
slack for a loaded 2-core machine; the fall times measured are printed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetd.report import build_report, to_json
from rigsim.addresses import free_loopback_base
from tests.components.process import free_port, stop_process
from tests.fleetd.feed_faults import FaultyFeed, MeterGateway
from tests.waiting import wait_for_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
FAILURES = {  # site: (feed mode, what fleetd must say)
    "refused": ("refuse", "cannot connect (Connection refused)"),
    "reset": ("reset", "connection reset or broken reply"),
    "timeout": ("hang", "no answer within 0.5 s"),
    "http": ("http503", "HTTP 503 'Service Unavailable'"),
    "badbody": ("badbody", "message is not JSON"),
    "frozen": ("frozen", "as_of has not advanced since"),
}
CUT = "cut"
SITES = (*FAILURES, CUT)
MIX = (("S19jPro", 4), ("S21", 4))  # 26.2 kW of rigs, 28.8 kW on the meter at PUE 1.1
PUE = 1.1
LIVE_MW, FLOOR_MW, CUT_MW = 0.024, 0.012, 0.015
STALE_AFTER_S = 2.0
POLL_S = METER_S = 0.25
ON_TIME_S = 3.0


def rigsim_toml(base: str) -> str:
    first = int(ipaddress.IPv4Address(base))
    out = ['[fleet]\nseed = 3\ntick_s = 0.1\nhashrate_spread = 0.0\n']
    for s in SITES:
        out.append(f"[sites.{s}]\nambient_c = 20.0\npue = {PUE}\n")
    for m, _ in MIX:
        out.append(f"[models.{m}]\nboot_s = 1.0\nramp_up_s = 1.0\nshed_s = 0.2\n"
                   "api_down_s = 0.3\ntau_s = 1.5\n")  # fmt: skip
    for s in SITES:
        for m, n in MIX:
            out.append(f'[[rigs]]\nmodel = "{m}"\ncount = {n}\nsite = "{s}"\n'
                       f'addresses = "{ipaddress.IPv4Address(first)}"\n')  # fmt: skip
            first += n
    return "\n".join(out)


def fleetd_toml(tmp: Path, base: str, ports: dict[str, int], feeds: dict[str, FaultyFeed],
                gateway: MeterGateway) -> str:  # fmt: skip
    first = int(ipaddress.IPv4Address(base))
    out = [f'[api]\nlisten = "127.0.0.1:{ports["api"]}"\n',
           f'[metrics]\nlisten = "127.0.0.1:{ports["metrics"]}"\n',
           f'[audit]\npath = "{tmp / "audit.jsonl"}"\n',
           '[drivers]\nread_timeout_s = 1.0\ncommand_timeout_s = 3.0\nread_retries = 0\n'
           'concurrency = 64\nread_deadline_s = 2.0\n']  # fmt: skip
    for s in SITES:
        out.append(
            f"[sites.{s}]\ncontrol_period_s = 1.0\nmin_awake_s = 4.0\nmin_asleep_s = 3.0\n"
            f"hysteresis = 0.01\nmargin_kw = 1.0\noverhead = {{pue = {PUE}}}\n"
            f'allotment = [{{kind = "http_json", name = "grid", url = "{feeds[s].url}", '
            f"interval_s = {POLL_S}, timeout_s = 0.5, stale_after_s = {STALE_AFTER_S}, "
            f"floor_mw = {FLOOR_MW}}}]\n"
            f'meter = {{kind = "http_json", url = "{gateway.url(s)}", field = "kw", '
            f'unit = "kW", interval_s = {METER_S}, timeout_s = 0.5, stale_after_s = 2.0}}\n'
        )
        for m, n in MIX:
            for _ in range(n):
                out.append(f'[[sites.{s}.rigs]]\nhost = "{ipaddress.IPv4Address(first)}"\n'
                           f'model = "{m}"\n')  # fmt: skip
                first += 1
    return "\n".join(out)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def get_json_or_error(url: str) -> Any:
    """The reply, or {"error": ...} (a missing view fails the test that reads it)."""
    try:
        return get_json(url)
    except urllib.error.HTTPError as exc:
        return {"error": f"HTTP {exc.code}"}


def wait_for_line(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, f"{proc.args} exited:\n{path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {path}:\n{path.read_text()[-3000:]}"
        time.sleep(0.1)


@dataclass
class Witness:
    """rigsim's site meters, read every 0.1 s (GET /sites), independently of fleetd."""

    url: str
    t: list[float] = field(default_factory=list)
    w: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SITES})
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.1):
            with contextlib.suppress(OSError, ValueError):
                sites = get_json(f"{self.url}/sites")["sites"]
                self.t.append(time.time())
                for s in SITES:
                    self.w[s].append(sites[s]["meter_kw"] * 1e3)

    def series(self, site: str) -> tuple[np.ndarray, np.ndarray]:
        n = min(len(self.t), len(self.w[site]))
        return np.array(self.t[:n]), np.array(self.w[site][:n])

    def under_since(self, site: str, cap_w: float, seconds: float, now: float) -> bool:
        t, w = self.series(site)
        m = t >= now - seconds
        return bool(m.sum() >= 5 and np.all(w[m] <= cap_w))


@dataclass
class Outcome:
    t_fail: float
    t_end: float
    stale_at: dict[str, float]
    before: dict[str, dict[str, Any]]  # /sites summaries just before the failures
    after: dict[str, dict[str, Any]]
    allotment: dict[str, dict[str, Any]]  # /sites/{site}/allotment at the end
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    log: str
    witness: Witness
    readings: dict[str, list[tuple[float, float]]]
    feeds: dict[str, FaultyFeed]
    audit: Path


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("feeds")
    base = free_loopback_base(len(SITES) * sum(n for _, n in MIX))
    ports = {k: free_port() for k in ("rigsim", "api", "metrics", "gateway")}
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen] = []
    feeds = {s: FaultyFeed(LIVE_MW, free_port()) for s in SITES}
    rigsim_url = f"http://127.0.0.1:{ports['rigsim']}"
    gateway = MeterGateway(rigsim_url, ports["gateway"])
    witness = Witness(rigsim_url)
    thread = threading.Thread(target=witness.run, daemon=True)
    try:
        (tmp / "fleet.toml").write_text(rigsim_toml(base))
        rig_log = tmp / "rigsim.log"
        with rig_log.open("w") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "surplus.cli", "rigsim", "--fleet", str(tmp / "fleet.toml"),
                 "--metrics", f"127.0.0.1:{ports['rigsim']}", "--status-every", "0"],
                stdout=out, stderr=subprocess.STDOUT, env=env))  # fmt: skip
        wait_for_line(rig_log, "rigsim: metrics on", procs[0], 60)
        gateway.start()
        (tmp / "fleetd.toml").write_text(fleetd_toml(tmp, base, ports, feeds, gateway))
        fd_log = tmp / "fleetd.log"
        with fd_log.open("w") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "surplus.cli", "fleetd", "--config",
                 str(tmp / "fleetd.toml"), "--log-level", "INFO"],
                stdout=out, stderr=subprocess.STDOUT, env=env))  # fmt: skip
        wait_for_line(fd_log, "surplus fleetd: API on", procs[1], 60)
        thread.start()
        api = f"http://127.0.0.1:{ports['api']}"

        # settled: every site under its live figure for 3 s
        deadline = time.monotonic() + 60
        while not all(witness.under_since(s, LIVE_MW * 1e6, 3.0, time.time()) for s in SITES):
            assert procs[1].poll() is None, fd_log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the sites did not settle under 24 kW"
            time.sleep(0.2)
        before = {s["site"]: s for s in get_json(f"{api}/sites")["sites"]}

        t_fail = time.time()
        for s, (mode, _) in FAILURES.items():
            feeds[s].set(mode)
        feeds[CUT].set("ok", mw=CUT_MW)
        wait_for_sync(lambda: all(feeds[s].in_mode(mode) for s, (mode, _) in FAILURES.items()),
                      5 * POLL_S + 5.0, "every feed failing")  # fmt: skip
        stale_at = {s: feeds[s].last_good().as_of + STALE_AFTER_S for s in FAILURES}
        # every failing site at its floor, the cut site under its new figure, 3 s settled
        deadline = time.monotonic() + 40
        while not (all(witness.under_since(s, FLOOR_MW * 1e6, 3.0, time.time())
                       for s in FAILURES)
                   and witness.under_since(CUT, CUT_MW * 1e6, 3.0, time.time())
                   and time.time() > max(stale_at.values()) + ON_TIME_S + 3.0):  # fmt: skip
            assert procs[1].poll() is None, fd_log.read_text()[-3000:]
            if time.monotonic() > deadline:
                break  # the tests below say which site did not get there
            time.sleep(0.2)
        after = {s["site"]: s for s in get_json(f"{api}/sites")["sites"]}
        t_end = time.time()
        allotment = {s: get_json_or_error(f"{api}/sites/{s}/allotment") for s in SITES}
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/metrics") as r:
            metrics = _samples(r.read().decode())
        yield Outcome(t_fail, t_end, stale_at, before, after, allotment, metrics,
                      fd_log.read_text(), witness, gateway.readings, feeds,
                      tmp / "audit.jsonl")  # fmt: skip
    finally:
        witness.stop.set()
        for p in reversed(procs):
            stop_process(p, 10)
        gateway.close()
        for f in feeds.values():
            f.close()


def integrate(readings: list[tuple[float, float]], t0: float, t1: float,
              cap_at: Any, floor_at: Any) -> dict[str, float]:  # fmt: skip
    """Above-cap and above-floor seconds and joules of meter readings, each held until the
    next, within [t0, t1): written from the definition, independently of fleetd."""
    r = np.array([x for x in readings if t0 <= x[0] < t1])
    t, w = r[:, 0], r[:, 1]
    dt = np.diff(np.append(t, t1))
    cap = np.array([cap_at(x) for x in t])
    floor = np.array([floor_at(x) for x in t])
    over, fover = w - cap, w - floor
    return {
        "above_s": dt[over > 1e-6].sum(), "above_j": (over * dt)[over > 1e-6].sum(),
        "floor_s": dt[fover > 1e-6].sum(), "floor_j": (fover * dt)[fover > 1e-6].sum(),
        "readings": len(t), "every_s": float(np.mean(np.diff(t))),
    }


def delta(o: Outcome, site: str, key: str) -> float:
    return float(o.after[site][key]) - float(o.before[site][key])


@pytest.mark.parametrize("site", sorted(FAILURES))
def test_a_failing_feed_drops_the_site_to_its_floor_and_says_why(
    outcome: Outcome, site: str
) -> None:
    o = outcome
    mode, reason = FAILURES[site]
    stale_at = o.stale_at[site]
    # the witness: under the floor on time, and there until the end
    t, w = o.witness.series(site)
    late = (t >= stale_at + ON_TIME_S) & (t <= o.t_end)
    assert late.sum() > 10, "the witness has no readings after the deadline"
    worst = float(np.max(w[late] - FLOOR_MW * 1e6))
    over = t[(t >= stale_at) & (w > FLOOR_MW * 1e6)]
    fall = (float(over[-1]) if over.size else stale_at) - stale_at
    print(f"{site}: under the {FLOOR_MW * 1e3:g} kW floor {fall:.2f} s after going stale")
    assert worst <= 0.0, f"{site}: {worst:.0f} W above the floor {ON_TIME_S} s after stale"

    # the log: the site, the feed and what was wrong; going stale said once
    who = f"allotment feed 'grid' of site '{site}'"
    lines = [ln for ln in o.log.splitlines() if who in ln]
    assert any(f"WARNING fleetd.allotment: {who}: {reason}" in ln for ln in lines) or (
        mode == "frozen"), "\n".join(lines) or o.log[-3000:]
    stale_lines = [ln for ln in lines if f"{who} stale: " in ln]
    assert len(stale_lines) == 1 and reason in stale_lines[0], lines

    # above-cap: nothing above the allotment in force; the way down to the floor apart
    ind = integrate(o.readings[site], o.t_fail, o.t_end, lambda x: LIVE_MW * 1e6,
                    lambda x: FLOOR_MW * 1e6 if x > stale_at else np.inf)  # fmt: skip
    print(f"{site}: above the floor {ind['floor_s']:.2f} s / {ind['floor_j']:.0f} J by the "
          f"readings; fleetd {delta(o, site, 'above_floor_s'):.2f} s")
    assert ind["above_s"] == 0.0
    assert delta(o, site, "above_cap_s") == pytest.approx(0.0, abs=0.01)
    assert delta(o, site, "above_floor_s") == pytest.approx(ind["floor_s"], abs=2 * METER_S)
    tol_j = 2 * METER_S * (LIVE_MW - FLOOR_MW) * 1e6
    assert delta(o, site, "above_floor_kwh") * 3.6e6 == pytest.approx(ind["floor_j"], abs=tol_j)

    # the API: state, reason, and how long
    view = o.allotment[site]
    grid = next(src for src in view["sources"] if src["name"] == "grid")
    assert grid["state"] == "stale" and reason in grid["reason"], grid
    assert view["stale"] and view["allotment_mw"] == pytest.approx(FLOOR_MW)
    assert view["in_force_mw"] == pytest.approx(LIVE_MW) and reason in view["reason"]
    began = o.feeds[site].frozen_as_of if mode == "frozen" else o.t_fail
    assert grid["failing_since"] == pytest.approx(began, abs=1.0), grid
    assert grid["failing_for_s"] == pytest.approx(view["at"] - grid["failing_since"], abs=0.01)

    # the metric: the feed's state and its time in trouble
    key = (("kind", "http_json"), ("site", site), ("source", "grid"))
    for state, value in (("ok", 0.0), ("failing", 0.0), ("stale", 1.0)):
        assert o.metrics[("surplus_fleetd_allotment_source_state", (*key[:2], key[2],
                                                                    ("state", state)))] == value
    assert o.metrics[("surplus_fleetd_allotment_source_failing_seconds", key)] > STALE_AFTER_S


def test_an_unannounced_cut_is_reported_as_the_meter_saw_it(outcome: Outcome) -> None:
    o = outcome
    served = o.feeds[CUT].served
    t_cut = next(s.t for s in served if s.mw == CUT_MW)
    ind = integrate(o.readings[CUT], o.t_fail, o.t_end,
                    lambda x: (CUT_MW if x >= t_cut else LIVE_MW) * 1e6,
                    lambda x: np.inf)  # fmt: skip
    got_s, got_kwh = delta(o, CUT, "above_cap_s"), delta(o, CUT, "above_cap_kwh")
    print(f"cut: above the cap {ind['above_s']:.2f} s / {ind['above_j'] / 3.6e6:.4f} kWh by the "
          f"readings (every {ind['every_s']:.3f} s); fleetd {got_s:.2f} s / {got_kwh:.4f} kWh")
    assert ind["above_s"] > 0, "the cut should have been a breach for a moment"
    assert got_s == pytest.approx(ind["above_s"], abs=2 * METER_S)
    tol_kwh = 2 * METER_S * (LIVE_MW - CUT_MW) * 1e6 / 3.6e6
    assert got_kwh == pytest.approx(ind["above_j"] / 3.6e6, abs=tol_kwh)
    assert delta(o, CUT, "above_floor_s") == 0.0
    assert "site meter readings" in o.after[CUT]["above_cap_source"]
    # the compliance report from the samples fleetd wrote says the same, and its source
    rows = build_report(o.audit, site=CUT, since=o.t_fail - 1.0, until=o.t_end)
    doc = json.loads(to_json(rows, site=CUT, since=o.t_fail - 1.0, until=o.t_end))
    # the meter is the source; a loaded machine may let a reading age past
    # max_reading_age for a moment, and the report then says so rather than hiding it
    src = doc["source"]
    assert src["power"] in ("meter", "meter+estimate"), src
    assert src["estimate_s"] <= 0.1 * src["meter_s"], src
    if src["estimate_s"] > 0:
        assert "while the meter was silent" in src["description"], src
    assert doc["source"]["sampling_s"] == pytest.approx(METER_S, abs=0.15)
    assert doc["totals"]["above_s"] == pytest.approx(ind["above_s"], abs=2 * METER_S + 1.0)
