"""fleetd's OpenAPI document comes from its answer models (fleetd.api_schema), built the
pool's way (plumbing.openapi); answers validate against both the models and the served
document. The running daemon's answers are checked in tests/fleetd/test_api.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from fleetd import api_schema as schema
from fleetd.config import parse_config
from fleetd.daemon import Fleetd
from plumbing import openapi
from tests.observability.openapi_check import (
    SPOILS,
    check_answer,
    problems,
    response_schema,
    spoil,
)

DOC = schema.OPENAPI
PLAN = TypeAdapter(schema.Plan | schema.NoPlan)


def test_the_document_is_generated_from_the_models() -> None:
    assert DOC["openapi"] == "3.1.0"
    components = DOC["components"]["schemas"]
    assert components == openapi.component_schemas(schema.MODELS, schema.REQUESTS)
    for model in schema.MODELS:  # every key of an answer is always there
        assert components[model.__name__]["required"] == list(model.model_fields)
        assert components[model.__name__]["additionalProperties"] is False
    assert components["OverrideRequest"]["required"] == ["mw"]
    for name, component in components.items():  # every field says what it is
        for key, prop in component["properties"].items():
            assert prop.get("description") or "$ref" in prop or prop.get("type") == "array", (
                f"{name}.{key}")
    for path, ops in DOC["paths"].items():  # every answer refers to a model
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if path == "/openapi.json":
                    continue
                s = response["content"]["application/json"]["schema"]
                refs = [s["$ref"]] if "$ref" in s else [x["$ref"] for x in s["anyOf"]]
                assert all(r.rpartition("/")[2] in components for r in refs), (
                    method, path, status)
            if "security" in op:  # a mutation documents its refusals
                assert {"401", "403"} <= set(op["responses"]), (method, path)


@pytest.mark.parametrize("how", SPOILS)
def test_a_wrong_answer_fails_both_checks(how: str) -> None:
    row: dict[str, Any] = {
        "host": "10.0.0.1", "command": "sleep", "awake": False, "target_w": 25.0,
        "profile": None, "planned": True, "hold_broken": False,
    }  # fmt: skip
    plan = {"site": "s", "at": 1.0, "budget_kw": 1.0, "limit_kw": 1.0, "total_kw": 0.025,
            "total_ths": 0.0, "unplanned_kw": 0.0, "infeasible": False, "ramp_limited": False,
            "emergency": False, "counts": {"sleep": 1}, "rigs": [row]}  # fmt: skip
    check_answer(DOC, "/sites/{site}/plan", PLAN, plan)
    spoil(row, how, "awake", "no")
    with pytest.raises(ValidationError):
        PLAN.validate_python(plan)
    assert problems(DOC, response_schema(DOC, "/sites/{site}/plan"), plan)


@pytest.fixture
async def unstarted(tmp_path: Path) -> AsyncIterator[tuple[Fleetd, httpx.AsyncClient]]:
    """fleetd's API over controllers that have not run: no reading, no plan yet (its
    drivers are never called, so the rigs need not exist)."""
    cfg = parse_config({
        "api": {"listen": "127.0.0.1:8470", "token": "test-token-0123456789"},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "sites": {"s": {
            "allotment": [{"kind": "constant", "name": "licence", "mw": 0.2},
                          {"kind": "http_json", "name": "grid", "floor_mw": 0.1,
                           "url": "http://127.0.0.1:9/allotment"}],
            "meter": {"kind": "http_json", "url": "http://127.0.0.1:9/meter"},
            "rigs": [{"range": "10.0.0.1-10.0.0.3", "model": "S21"}],
        }},
    })  # fmt: skip
    fd = Fleetd(cfg, api_port=0, metrics_port=0)
    assert fd.api is not None
    await fd.api.start()
    try:
        async with httpx.AsyncClient(base_url=fd.api.url) as client:
            yield fd, client
    finally:
        await fd.api.stop()
        fd.audit.close()
        fd.samples.close()


async def test_answers_before_the_first_plan_match(
    unstarted: tuple[Fleetd, httpx.AsyncClient],
) -> None:
    """Nothing read, no plan, a feed never heard: the nulls are documented too."""
    _, c = unstarted
    served = (await c.get("/openapi.json")).json()
    assert served == DOC
    plan = (await c.get("/sites/s/plan")).json()
    assert plan == {"site": "s", "plan": None}
    check_answer(served, "/sites/{site}/plan", PLAN, plan)
    rigs = (await c.get("/sites/s/rigs")).json()
    assert [r["watts"] for r in rigs["rigs"]] == [None, None, None]  # never read
    check_answer(served, "/sites/{site}/rigs", schema.RigList, rigs)
    allotment = (await c.get("/sites/s/allotment")).json()
    grid = allotment["sources"][1]
    assert grid["state"] == "stale" and grid["as_of"] is None, grid  # never heard: floor
    check_answer(served, "/sites/{site}/allotment", schema.Allotment, allotment)
    check_answer(served, "/sites", schema.SiteList, (await c.get("/sites")).json())
    missing = await c.get("/sites/nowhere")
    check_answer(served, "/sites/{site}", schema.Error, missing.json(), 404)
    refused = await c.post("/sites/s/resume")
    check_answer(served, "/sites/{site}/resume", schema.Error, refused.json(), 401, "post")
