"""The stats API's OpenAPI document comes from its answer models (pool.stats_schema),
and what PoolView answers validates against both the models and the served document."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pool import stats_schema as schema
from pool.stats_api import OPENAPI, PoolView
from pool.stratum.server import BlockFound
from pool.workers import WorkerBook
from tests.observability.openapi_check import SPOILS, problems, response_schema, spoil

NOW = 1_900_000_000.0


def check(path: str, model: type[schema.Answer], answer: dict[str, Any]) -> None:
    model.model_validate(answer)
    assert problems(OPENAPI, response_schema(OPENAPI, path), answer) == []


async def test_every_answer_matches_its_model_and_the_document(make_server, connect) -> None:
    server = await make_server()
    book = WorkerBook(600.0, clock=lambda: NOW)
    for i in range(5):
        book.record(f"acct.rig{i}", 1.0 + i, NOW - 5)
    client = await connect(server)
    await client.subscribe()
    assert (await client.call("mining.authorize", ["acct.idle", "x"]))["result"] is True
    view = PoolView(server, book, clock=lambda: NOW, confirmed=lambda: 1)

    check("/api/v1/pool", schema.PoolSummary, view.summary())  # no block yet: nulls
    server.blocks.append(BlockFound(7, "00" * 32, "acct.rig1", "j1", None, NOW - 1))
    server.blocks.append(BlockFound(8, "11" * 32, "acct.rig2", "j2", "bad-prevblk", NOW))
    summary = view.summary()
    check("/api/v1/pool", schema.PoolSummary, summary)
    assert summary["last_block"]["height"] == 7
    page = view.worker_page(10)
    check("/api/v1/workers", schema.WorkerList, page)
    assert [w["worker"] for w in page["workers"]][-1] == "acct.idle"  # no share yet: nulls
    check("/api/v1/workers/{worker}", schema.Worker, view.worker("acct.rig3") or {})
    check("/api/v1/workers/{worker}", schema.Worker, view.worker("acct.idle") or {})
    check("/api/v1/accounts/{account}", schema.Account, view.account("acct") or {})
    check("/api/v1/blocks", schema.BlockList, {"blocks": view.block_list(5)})


@pytest.mark.parametrize("how", SPOILS)
def test_a_wrong_answer_fails_both_checks(how: str) -> None:
    row = {"height": 7, "hash": "00" * 32, "worker": "a.b", "job_id": "j", "accepted": True,
           "reject_reason": None, "time": NOW}  # fmt: skip
    check("/api/v1/blocks", schema.BlockList, {"blocks": [row]})
    spoil(row, how, "height", "7")
    with pytest.raises(ValidationError):
        schema.BlockList.model_validate({"blocks": [row]})
    assert problems(OPENAPI, response_schema(OPENAPI, "/api/v1/blocks"), {"blocks": [row]})


def test_the_document_is_generated_from_the_models() -> None:
    assert OPENAPI["openapi"] == "3.1.0"
    components = OPENAPI["components"]["schemas"]
    assert components == schema.component_schemas()
    for model in schema.MODELS:
        assert components[model.__name__]["required"] == list(model.model_fields)
    rejected = components["Rejected"]["properties"]
    assert set(rejected) == {"other", "stale", "duplicate", "low_difficulty", "unauthorized",
                             "not_subscribed"}  # fmt: skip
    for name, component in components.items():  # every field says what it is
        for key, prop in component["properties"].items():
            assert prop.get("description") or "$ref" in prop or prop.get("type") == "array", (
                f"{name}.{key}")
    refs = {op["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            for op in OPENAPI["paths"].values()}  # fmt: skip
    assert refs == {f"#/components/schemas/{m}" for m in
                    ("PoolSummary", "WorkerList", "Worker", "Account", "BlockList",
                     "PoolOverview", "PoolOnline", "HashrateChart", "PoolBlockList", "Miner",
                     "MinerWorkerList", "PayoutList")}
