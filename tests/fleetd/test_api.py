"""The HTTP API of a running fleetd (the daemon composition) over real rigsim rigs driven
through pyasic: reads, the bearer token, override, emergency stop and resume."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fleetd import api_schema as schema
from fleetd.audit import read_audit
from fleetd.config import parse_config
from fleetd.control import CycleReport
from fleetd.daemon import Fleetd
from fleetd.report import build_report
from rigsim.fleet import Fleet
from rigsim.physics import RigState as SimState
from rigsim.runner import FleetRunner
from tests.fleetd.fleetd_rigsim import FAST, FAST_TUNING, fleet_config
from tests.observability.openapi_check import check_answer
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TOKEN = "test-token-0123456789abcdef"


def daemon_config(fleet: Fleet, tmp: Path, token: str | None = TOKEN,
                  tokens: list[dict] | None = None) -> dict:  # fmt: skip
    rigs = [{"host": r.address, "model": r.model.key} for r in fleet.rigs]
    api = {"listen": "127.0.0.1:8470"} | ({"token": token} if token else {})
    api |= {"tokens": tokens} if tokens else {}
    return {
        "api": api,
        "drivers": {"read_timeout_s": 1.0, "command_timeout_s": 3.0, "read_retries": 0},
        "audit": {"path": str(tmp / "audit.jsonl")},
        "sites": {"s": {
            "control_period_s": 1.0, "min_awake_s": 2.0, "min_asleep_s": 1.0,
            "allotment": [{"kind": "constant", "name": "licence", "mw": 0.12}],
            "overhead": {"pue": 1.1}, "rigs": rigs,
        }},
    }  # fmt: skip


async def running(
    tmp: Path, token: str | None = TOKEN, tokens: list[dict] | None = None
) -> AsyncIterator[tuple[Fleet, Fleetd]]:
    fleet = Fleet(fleet_config((("S19jPro", 20), ("S21", 20))))
    async with FleetRunner(fleet):
        fd = Fleetd(parse_config(daemon_config(fleet, tmp, token, tokens)), tuning=FAST_TUNING,
                    api_port=0, metrics_port=0)  # fmt: skip
        async with fd:
            yield fleet, fd


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[Fleet, Fleetd]]:
    async for pair in running(tmp_path):
        yield pair


async def test_reads_describe_sites_rigs_and_plan(daemon: tuple[Fleet, Fleetd]) -> None:
    fleet, fd = daemon
    assert fd.api is not None
    async with httpx.AsyncClient(base_url=fd.api.url) as c:
        spec = (await c.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        for path in ("/sites", "/sites/{site}/rigs", "/sites/{site}/plan",
                     "/sites/{site}/allotment/override", "/sites/{site}/emergency-stop"):
            assert path in spec["paths"]
        sites = (await c.get("/sites")).json()["sites"]
        assert [s["site"] for s in sites] == ["s"]
        assert sites[0]["allotment_mw"] == pytest.approx(0.12)
        rigs = (await c.get("/sites/s/rigs")).json()["rigs"]
        assert {r["host"] for r in rigs} == {r.address for r in fleet.rigs}
        assert all(r["fresh"] for r in rigs)
        plan = (await c.get("/sites/s/plan")).json()
        assert plan["budget_kw"] == pytest.approx((120.0 / 1.1), rel=1e-3)
        assert plan["total_kw"] <= plan["budget_kw"] + 1e-6
        assert len(plan["rigs"]) == len(fleet.rigs)
        missing = await c.get("/sites/nowhere")
        assert missing.status_code == 404 and "nowhere" in missing.json()["error"]


async def test_mutations_need_the_bearer_token(daemon: tuple[Fleet, Fleetd]) -> None:
    _, fd = daemon
    assert fd.api is not None
    async with httpx.AsyncClient(base_url=fd.api.url) as c:
        r = await c.post("/sites/s/emergency-stop", json={"reason": "x"})
        assert r.status_code == 401
        r = await c.post("/sites/s/allotment/override", json={"mw": 0.1},
                         headers={"Authorization": "Bearer wrong-token-wrong-token"})
        assert r.status_code == 401
        assert not fd.controllers["s"].emergency


async def test_override_caps_the_site_and_lifts(daemon: tuple[Fleet, Fleetd]) -> None:
    fleet, fd = daemon
    ctl = fd.controllers["s"]
    assert fd.api is not None
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fd.api.url, headers=auth) as c:
        bad = await c.post("/sites/s/allotment/override", json={"mw": "lots"})
        assert bad.status_code == 400 and "mw" in bad.json()["error"]
        r = await c.post("/sites/s/allotment/override",
                         json={"mw": 0.06, "ttl_s": 60, "reason": "test"})  # fmt: skip
        assert r.status_code == 200, r.text
        await wait_for(lambda: fleet.site_meter_w()["s"] <= 60_000.0)
        assert ctl.stats.allotment_w == pytest.approx(60_000.0)
        s = (await c.get("/sites/s")).json()
        assert s["override"]["mw"] == pytest.approx(0.06)
        r = await c.delete("/sites/s/allotment/override")
        assert r.json()["cleared"] is True
        await wait_for(lambda: ctl.stats.allotment_w == pytest.approx(120_000.0))


async def test_emergency_stop_sleeps_every_rig_until_resumed(
    daemon: tuple[Fleet, Fleetd],
) -> None:
    fleet, fd = daemon
    ctl = fd.controllers["s"]
    assert fd.api is not None
    steps: list[str] = []  # why each plan step ran, from the stop on
    metrics_hook = ctl.on_cycle

    def on_cycle(report: CycleReport) -> None:
        steps.append(report.reason)
        if metrics_hook is not None:
            metrics_hook(report)

    ctl.on_cycle = on_cycle

    def asleep() -> bool:
        return all(x.state == SimState.SLEEPING for x in fleet.rigs)

    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fd.api.url, headers=auth) as c:
        t0 = time.time()
        r = await c.post("/sites/s/emergency-stop", json={"reason": "fire drill"})
        assert r.status_code == 200
        # every rig answers its sleep within a command timeout and sheds in its shed time
        deadline = fd.config.drivers.command_timeout_s + FAST["shed_s"] + 2.0
        await wait_for(asleep, deadline, "every rig asleep")
        assert steps[0] == "emergency stop"  # re-planned at once, not at the next period
        seen, period = ctl.stats.cycles, fd.config.sites["s"].control_period_s
        await wait_for(lambda: ctl.stats.cycles >= seen + 2, 10 * period, "two more plan steps")
        assert asleep()  # stays asleep: every plan re-checks
        r = await c.post("/sites/s/resume")
        assert r.json()["emergency"] is False
        await wait_for(lambda: fleet.site_hashrate_ths()["s"] > 0)
    # the stop is in the audit log with who asked, and the report counts its commands
    rows = build_report(fd.config.audit.path, site="s", since=t0 - 60, until=time.time() + 1)
    assert sum(sum(r.commands.values()) for r in rows) >= len(fleet.rigs)
    assert sum(r.energy_j for r in rows) > 0


async def test_every_answer_matches_its_model_and_the_served_document(
    daemon: tuple[Fleet, Fleetd],
) -> None:
    """Reads and mutations of a running fleetd, errors included (fleetd.api_schema)."""
    fleet, fd = daemon
    assert fd.api is not None
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fd.api.url) as c:
        doc = (await c.get("/openapi.json")).json()
        assert doc == schema.OPENAPI

        async def check(method: str, path: str, model: object, status: int = 200,
                        **kw: object) -> dict:  # fmt: skip
            r = await c.request(method, path.replace("{site}", "s"), **kw)  # type: ignore[arg-type]
            assert r.status_code == status, r.text
            check_answer(doc, path, model, r.json(), status, method.lower())
            return r.json()

        sites = await check("GET", "/sites", schema.SiteList)
        assert sites["sites"][0]["rigs"] == len(fleet.rigs)
        await check("GET", "/sites/{site}", schema.Site)
        rigs = await check("GET", "/sites/{site}/rigs", schema.RigList)
        assert all(r["fresh"] and r["watts"] is not None for r in rigs["rigs"])
        plan = await check("GET", "/sites/{site}/plan", schema.Plan)
        assert len(plan["rigs"]) == len(fleet.rigs)
        await check("GET", "/sites/{site}/allotment", schema.Allotment)
        r = await c.get("/sites/nowhere/rigs")
        check_answer(doc, "/sites/{site}/rigs", schema.Error, r.json(), r.status_code)
        path = "/sites/{site}/allotment/override"
        await check("POST", path, schema.Error, 401, json={"mw": 0.1})
        await check("POST", path, schema.Error, 400, json={"mw": "lots"}, headers=auth)
        await check("POST", path, schema.Error, 400, content=b"[", headers=auth)
        await check("POST", path, schema.OverrideAnswer, json={"mw": 0.1, "reason": "t"},
                    headers=auth)  # fmt: skip
        site = await check("GET", "/sites/{site}", schema.Site)
        assert site["override"]["mw"] == pytest.approx(0.1)
        await check("DELETE", path, schema.OverrideCleared, headers=auth)
        await check("POST", "/sites/{site}/emergency-stop", schema.EmergencyState, headers=auth,
                    json={"reason": "drill"})  # fmt: skip
        await check("POST", "/sites/{site}/resume", schema.EmergencyState, headers=auth)
        await check("POST", "/emergency-stop", schema.EveryEmergency, headers=auth)
        site = await check("GET", "/sites/{site}", schema.Site)
        assert site["emergency"] and site["commands"] and site["emergency_reason"]


async def test_without_a_token_mutations_are_refused(tmp_path: Path) -> None:
    async for _fleet, fd in running(tmp_path, token=None):
        assert fd.api is not None
        async with httpx.AsyncClient(base_url=fd.api.url) as c:
            r = await c.post("/emergency-stop", headers={"Authorization": "Bearer anything"})
            assert r.status_code == 403 and "token" in r.json()["error"]


async def test_the_audit_names_the_token_not_a_field_the_caller_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETD_TEST_OPS", "ops-token-0123456789")
    tokens = [{"name": "ops", "token_env": "FLEETD_TEST_OPS"},
              {"name": "scada", "token": "scada-token-0123456789"}]  # fmt: skip
    async for _fleet, fd in running(tmp_path, token=TOKEN, tokens=tokens):
        assert fd.api is not None
        async with httpx.AsyncClient(base_url=fd.api.url) as c:
            for token in ("ops-token-0123456789", "scada-token-0123456789", TOKEN):
                r = await c.post("/sites/s/emergency-stop", json={"by": "mallory", "reason": "x"},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                assert r.status_code == 200, r.text
            r = await c.post("/sites/s/allotment/override", json={"mw": 0.1, "by": "mallory"},
                             headers={"Authorization": "Bearer ops-token-0123456789"})  # fmt: skip
            assert r.json()["override"]["by"] == "ops"
            r = await c.post("/sites/s/resume", headers={"Authorization": "Bearer nope" * 4})
            assert r.status_code == 401
        fd.audit.flush()
    notes = [r for r in read_audit(fd.config.audit.path, kinds=("note",))]
    by = [(r.extra.get("text"), r.extra.get("by")) for r in notes]
    assert by == [("emergency stop", "ops"), ("emergency stop", "scada"),
                  ("emergency stop", "api"), ("allotment override set", "ops")]  # fmt: skip


def test_demo_config_composes_two_sites(tmp_path: Path) -> None:
    from fleetd.config import AuditConfig, load

    cfg = load(Path(__file__).resolve().parents[2] / "configs" / "fleetd-demo.toml")
    cfg = cfg.model_copy(update={"audit": AuditConfig(path=tmp_path / "audit.jsonl")})
    fd = Fleetd(cfg, serve_api=False, metrics_port=0)
    assert set(fd.controllers) == {"north", "south"}
    assert len(fd.sites["north"].drivers) == len(cfg.rigs("north")) > 0
    # north: schedule + constant allotment, so only its site meter is polled; south: its
    # meter, the AI hall's sub-meter and the grid operator's live feed
    assert [f.name for f in fd.sites["north"].feeds()] == ["north:site"]
    assert {f.name for f in fd.sites["south"].feeds()} == {"grid", "south:site", "south:ai-hall"}
    b = fd.sites["south"].budget(time.time())
    assert 0 < b.miner_w < 0.52e6
    fd.audit.close()
    fd.samples.close()
