"""The stats API's answers as pydantic models, and its OpenAPI 3.1 document built from them.

Each model is the shape of one answer of pool.stats_api (PoolView builds plain dicts, as
fast as a page of ten thousand workers needs; tests validate live answers against these
models, so the document cannot drift from what is served). The JSON Schemas come from
pydantic through plumbing.openapi, as for every daemon; only the paths and their query
parameters are written here by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from plumbing.openapi import Answer, Error, document, ok, path_param, query
from plumbing.openapi import component_schemas as _components
from pool.metrics import REJECT_REASONS

API_PREFIX = "/api/v1"
MAX_LIMIT = 10_000
DEFAULT_PAGE = 1_000  # workers per page when the caller gives no limit
MAX_OFFSET = 10_000_000
MAX_NAME = 256  # longest worker or account name a query may name


class Block(Answer):
    """A block candidate the pool submitted."""

    height: int = Field(description="block height")
    hash: str = Field(description="block hash, display (RPC) byte order")
    worker: str = Field(description="the worker whose share solved it")
    job_id: str = Field(description="the job it was mined on")
    accepted: bool = Field(description="the node accepted it")
    reject_reason: str | None = Field(description="the node's reason when it did not")
    time: float = Field(description="when it was submitted (epoch seconds)")


class Worker(Answer):
    """One worker name's shares and hashrate."""

    worker: str = Field(description="worker name as the miner authorized it (account.rig)")
    account: str = Field(description="the account: the worker name up to the first '.'")
    hashrate_hs: float = Field(description="estimated hashrate over the window (H/s)")
    accepted_shares: int = Field(description="accepted shares")
    accepted_difficulty: float = Field(description="summed difficulty of accepted shares")
    last_share_difficulty: float | None = Field(
        description="difficulty of its last accepted share")
    first_share_time: float | None = Field(description="first accepted share (epoch seconds)")
    last_share_time: float | None = Field(description="last accepted share (epoch seconds)")
    connected: bool = Field(description="authorized on an open connection")
    difficulty: float | None = Field(description="its connection's share difficulty now")


Rejected: type[Answer] = create_model(  # one count per Stratum reject reason
    "Rejected",
    __base__=Answer,
    __doc__="Rejected shares by reason.",
    **{reason: (int, Field(description=f"shares rejected: {reason}"))
       for reason in REJECT_REASONS.values()},
)  # type: ignore[call-overload]  # fmt: skip


class Shares(Answer):
    """Shares since the pool started."""

    accepted: int = Field(description="accepted shares")
    accepted_difficulty: float = Field(description="summed difficulty of accepted shares")
    rejected: Rejected


class Distribution(Answer):
    """Share difficulty over the working connections."""

    count: int = Field(description="working connections")
    min: float | None = Field(description="lowest share difficulty")
    median: float | None = Field(description="median share difficulty")
    max: float | None = Field(description="highest share difficulty")


class Difficulty(Answer):
    """The network's difficulty and the connections' share difficulties."""

    network: float | None = Field(description="network difficulty of the current job")
    connections: Distribution


class PoolSummary(Answer):
    """The pool at one moment."""

    time: float = Field(description="server time of this answer (epoch seconds)")
    hashrate_hs: float = Field(description="pool hashrate estimated over the window (H/s)")
    hashrate_window_s: float = Field(description="the estimate's window (seconds)")
    workers: int = Field(description="workers with an accepted share within the window")
    authorized_workers: int = Field(description="worker names authorized on open connections")
    connections: int = Field(description="open Stratum connections")
    shares: Shares
    difficulty: Difficulty
    height: int | None = Field(description="height of the current job")
    template_age_s: float | None = Field(description="age of the current job (seconds)")
    blocks_found: int = Field(description="block candidates found")
    blocks_accepted: int = Field(description="blocks the node accepted")
    blocks_confirmed: int | None = Field(
        description="blocks on the active chain at their height")
    last_block: Block | None = Field(description="the last block the node accepted")


class WorkerList(Answer):
    """A page of workers."""

    workers: list[Worker]
    offset: int = Field(description="rows skipped before this page")
    limit: int = Field(description="rows asked for")
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


class Account(Answer):
    """One account and its workers."""

    account: str = Field(description="the account name")
    hashrate_hs: float = Field(description="its workers' summed hashrate (H/s)")
    accepted_shares: int = Field(description="its workers' accepted shares")
    workers: list[Worker]


class BlockList(Answer):
    """Blocks found, newest first."""

    blocks: list[Block]


MODELS: tuple[type[Answer], ...] = (PoolSummary, WorkerList, Worker, Account, BlockList, Error)


def component_schemas() -> dict[str, Any]:
    """Every model (and the ones nested in them) as an OpenAPI component schema."""
    return _components(MODELS)


def _by_name(operation: str, name: str, model: type[Answer], summary: str) -> dict[str, Any]:
    """GET of one thing named in the path: 200 with it, 404 when there is none."""
    return {"get": {
        "operationId": operation, "summary": summary, "parameters": [path_param(name)],
        "responses": {"200": ok(model, f"the {name}"), "404": ok(Error, f"no such {name}")},
    }}  # fmt: skip


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /openapi.json."""
    limit = query("limit", "at most this many rows", type="integer", minimum=1,
                  maximum=MAX_LIMIT)  # fmt: skip
    paths = {
        f"{API_PREFIX}/pool": {"get": {
            "operationId": "getPool", "summary": "Pool summary",
            "responses": {"200": ok(PoolSummary, "the summary")},
        }},
        f"{API_PREFIX}/workers": {"get": {
            "operationId": "listWorkers",
            "summary": "Workers, highest hashrate first, a page at a time",
            "parameters": [
                {**limit, "description": f"at most this many rows (default {DEFAULT_PAGE})"},
                query("offset", "skip this many rows (the previous page's next_offset)",
                      type="integer", minimum=0, maximum=MAX_OFFSET),
                query("account", "only this account's workers", type="string",
                      minLength=1, maxLength=MAX_NAME),
            ],
            "responses": {"200": ok(WorkerList, "a page of workers"),
                          "400": ok(Error, "a bad query parameter")},
        }},
        f"{API_PREFIX}/accounts/{{account}}": _by_name(
            "getAccount", "account", Account, "One account and its workers"),
        f"{API_PREFIX}/workers/{{worker}}": _by_name(
            "getWorker", "worker", Worker, "One worker"),
        f"{API_PREFIX}/blocks": {"get": {
            "operationId": "listBlocks", "summary": "Blocks found, newest first",
            "parameters": [limit],
            "responses": {"200": ok(BlockList, "the blocks"),
                          "400": ok(Error, "a bad limit")},
        }},
    }  # fmt: skip
    return document(
        title="Surplus pool stats API", version="1.0.0",
        description="Read-only pool, worker and block statistics of a Surplus pool.",
        paths=paths, models=MODELS,
    )  # fmt: skip
