"""The pool's public stats API: HTTP JSON for dashboards and bots, described by OpenAPI.

    GET /api/v1/pool               pool summary: hashrate, workers, difficulty, last block
    GET /api/v1/workers            per-worker stats, highest hashrate first (?limit=N)
    GET /api/v1/workers/{worker}   one worker
    GET /api/v1/blocks             blocks found, newest first (?limit=N)
    GET /openapi.json              this API as OpenAPI 3.0

The same figures Prometheus gets, shaped the way public-pool and Miningcore users expect
to read them. `PoolView` builds every answer from the live server and the worker book
(pure reads, tested without a socket); `StatsApi` is the aiohttp shell that serves it on
the event loop, so an answer is one consistent moment of the pool.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pool.bitcoin.target import DIFF1_TARGET
from pool.metrics import REJECT_REASONS, WorkerBook, WorkerView

if TYPE_CHECKING:
    from pool.stratum.server import StratumServer

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_LIMIT = 10_000


class StatsApiConfig(BaseModel):
    """What StatsApi runs with; PoolApp builds it from the pool's `[stats_api]` section
    (pool.config.StatsApiSection)::

    [stats_api]
    listen = "127.0.0.1"
    port = 8101
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = True
    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(8101, ge=0, le=65535, description="0 picks a free port")
    cors_origin: str | None = Field(None, description="Access-Control-Allow-Origin, if any")


class BadRequest(ValueError):
    """A query parameter the API cannot use (named in the message)."""


# ---------------------------------------------------------------------- pure views


class PoolView:
    """Answers built from the live server and the worker book."""

    def __init__(
        self,
        server: StratumServer,
        workers: WorkerBook,
        *,
        clock: Callable[[], float] = time.time,
        confirmed: Callable[[], int] | None = None,
    ) -> None:
        self.server = server
        self.workers = workers
        self.clock = clock
        # blocks on the active chain at their height (the app's getblockhash check);
        # `blocks_accepted` only says submitblock took them, which a stale block's can too
        self.confirmed = confirmed

    def _connected(self) -> dict[str, float]:
        """Worker name -> the difficulty of the connection it is authorized on."""
        out: dict[str, float] = {}
        for s in list(self.server.sessions):
            if s.authorized and not s.closed:
                for w in s.workers or ():
                    out[w] = float(s.difficulty)
        return out

    def summary(self) -> dict[str, Any]:
        server, now = self.server, self.clock()
        stats = server.stats
        sessions = list(server.sessions)
        diffs = [float(s.difficulty) for s in sessions if s.working]
        job = server.jobs.current
        rejected = dict(stats.rejected)
        accepted_blocks = [b for b in server.blocks if b.result is None]
        last = accepted_blocks[-1] if accepted_blocks else None
        return {
            "time": now,
            "hashrate_hs": self.workers.total_hashrate(now),
            "hashrate_window_s": self.workers.window_s,
            "workers": self.workers.active(now),
            "authorized_workers": sum(len(s.workers or ()) for s in sessions if s.authorized),
            "connections": len(sessions),
            "shares": {
                "accepted": stats.accepted,
                "accepted_difficulty": stats.credited,
                "rejected": {reason: rejected.get(code, 0)
                             for code, reason in REJECT_REASONS.items()},
            },
            "difficulty": {
                "network": None if job is None else DIFF1_TARGET / job.network_target,
                "connections": {
                    "count": len(diffs),
                    "min": min(diffs) if diffs else None,
                    "median": statistics.median(diffs) if diffs else None,
                    "max": max(diffs) if diffs else None,
                },
            },
            "height": None if job is None else job.height,
            "template_age_s": None if job is None else max(0.0, now - job.created),
            "blocks_found": stats.blocks_found,
            "blocks_accepted": stats.blocks_accepted,
            "blocks_confirmed": None if self.confirmed is None else self.confirmed(),
            "last_block": None if last is None else _block(last),
        }

    def _worker(self, v: WorkerView, connected: dict[str, float]) -> dict[str, Any]:
        return {
            "worker": v.worker,
            "account": v.worker.split(".", 1)[0],
            "hashrate_hs": v.hashrate,
            "accepted_shares": v.accepted,
            "accepted_difficulty": v.difficulty_total,
            "last_share_difficulty": v.last_difficulty,
            "first_share_time": v.first_share,
            "last_share_time": v.last_share,
            "connected": v.worker in connected,
            "difficulty": connected.get(v.worker),
        }

    def worker_list(self, limit: int | None = None) -> list[dict[str, Any]]:
        connected = self._connected()
        views = self.workers.views(self.clock())
        seen = {v.worker for v in views}
        rows = [self._worker(v, connected) for v in views]
        for name in sorted(set(connected) - seen):  # authorized, no accepted share yet
            rows.append({
                "worker": name, "account": name.split(".", 1)[0], "hashrate_hs": 0.0,
                "accepted_shares": 0, "accepted_difficulty": 0.0, "last_share_difficulty": None,
                "first_share_time": None, "last_share_time": None, "connected": True,
                "difficulty": connected[name],
            })  # fmt: skip
        return rows if limit is None else rows[:limit]

    def worker(self, name: str) -> dict[str, Any] | None:
        for row in self.worker_list():
            if row["worker"] == name:
                return row
        return None

    def block_list(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = [_block(b) for b in reversed(list(self.server.blocks))]
        return rows if limit is None else rows[:limit]


def _block(b: Any) -> dict[str, Any]:
    return {
        "height": b.height,
        "hash": b.block_hash,
        "worker": b.worker,
        "job_id": b.job_id,
        "accepted": b.result is None,
        "reject_reason": b.result,
        "time": b.submitted_at,
    }


def parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"limit: expected an integer 1..{MAX_LIMIT}, got {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit: expected an integer 1..{MAX_LIMIT}, got {value}")
    return value


# ---------------------------------------------------------------------- OpenAPI


def _num(description: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": "number", "nullable": nullable, "description": description}


def _int(description: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": "integer", "nullable": nullable, "description": description}


def _str(description: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": "string", "nullable": nullable, "description": description}


def _obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **extra}


_BLOCK = _obj(
    ["height", "hash", "worker", "job_id", "accepted", "reject_reason", "time"],
    {
        "height": _int("block height"),
        "hash": _str("block hash, display (RPC) byte order"),
        "worker": _str("the worker whose share solved it"),
        "job_id": _str("the job it was mined on"),
        "accepted": {"type": "boolean", "description": "the node accepted it"},
        "reject_reason": _str("the node's reason when it did not", nullable=True),
        "time": _num("when it was submitted (epoch seconds)"),
    },
)
_WORKER = _obj(
    ["worker", "account", "hashrate_hs", "accepted_shares", "accepted_difficulty",
     "last_share_difficulty", "first_share_time", "last_share_time", "connected", "difficulty"],
    {
        "worker": _str("worker name as the miner authorized it (account.rig)"),
        "account": _str("the account: the worker name up to the first '.'"),
        "hashrate_hs": _num("estimated hashrate over the window (H/s)"),
        "accepted_shares": _int("accepted shares"),
        "accepted_difficulty": _num("summed difficulty of accepted shares"),
        "last_share_difficulty": _num("difficulty of its last accepted share", nullable=True),
        "first_share_time": _num("first accepted share (epoch seconds)", nullable=True),
        "last_share_time": _num("last accepted share (epoch seconds)", nullable=True),
        "connected": {"type": "boolean", "description": "authorized on an open connection"},
        "difficulty": _num("its connection's share difficulty now", nullable=True),
    },
)  # fmt: skip
_SUMMARY = _obj(
    ["time", "hashrate_hs", "hashrate_window_s", "workers", "authorized_workers", "connections",
     "shares", "difficulty", "height", "template_age_s", "blocks_found", "blocks_accepted",
     "blocks_confirmed",
     "last_block"],
    {
        "time": _num("server time of this answer (epoch seconds)"),
        "hashrate_hs": _num("pool hashrate estimated over the window (H/s)"),
        "hashrate_window_s": _num("the estimate's window (seconds)"),
        "workers": _int("workers with an accepted share within the window"),
        "authorized_workers": _int("worker names authorized on open connections"),
        "connections": _int("open Stratum connections"),
        "shares": _obj(["accepted", "accepted_difficulty", "rejected"], {
            "accepted": _int("accepted shares"),
            "accepted_difficulty": _num("summed difficulty of accepted shares"),
            "rejected": _obj(list(REJECT_REASONS.values()), {
                r: _int(f"shares rejected: {r}") for r in REJECT_REASONS.values()
            }),
        }),
        "difficulty": _obj(["network", "connections"], {
            "network": _num("network difficulty of the current job", nullable=True),
            "connections": _obj(["count", "min", "median", "max"], {
                "count": _int("working connections"),
                "min": _num("lowest share difficulty", nullable=True),
                "median": _num("median share difficulty", nullable=True),
                "max": _num("highest share difficulty", nullable=True),
            }),
        }),
        "height": _int("height of the current job", nullable=True),
        "template_age_s": _num("age of the current job (seconds)", nullable=True),
        "blocks_found": _int("block candidates found"),
        "blocks_accepted": _int("blocks the node accepted"),
        "blocks_confirmed": _int("blocks on the active chain at their height", nullable=True),
        "last_block": {"allOf": [{"$ref": "#/components/schemas/Block"}], "nullable": True},
    },
)  # fmt: skip
_ERROR = _obj(["error"], {"error": _str("what was wrong")})
_LIMIT = {
    "name": "limit", "in": "query", "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "description": "at most this many rows",
}  # fmt: skip


def _ok(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": ref}}}}  # fmt: skip


def _bad(description: str) -> dict[str, Any]:
    return _ok("#/components/schemas/Error", description)


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Surplus pool stats API",
        "version": "1.0.0",
        "description": "Read-only pool, worker and block statistics of a Surplus pool.",
    },
    "paths": {
        f"{API_PREFIX}/pool": {"get": {
            "operationId": "getPool", "summary": "Pool summary",
            "responses": {"200": _ok("#/components/schemas/PoolSummary", "the summary")},
        }},
        f"{API_PREFIX}/workers": {"get": {
            "operationId": "listWorkers", "summary": "Workers, highest hashrate first",
            "parameters": [_LIMIT],
            "responses": {
                "200": _ok("#/components/schemas/WorkerList", "the workers"),
                "400": _bad("a bad limit"),
            },
        }},
        f"{API_PREFIX}/workers/{{worker}}": {"get": {
            "operationId": "getWorker", "summary": "One worker",
            "parameters": [{"name": "worker", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": _ok("#/components/schemas/Worker", "the worker"),
                "404": _bad("no such worker"),
            },
        }},
        f"{API_PREFIX}/blocks": {"get": {
            "operationId": "listBlocks", "summary": "Blocks found, newest first",
            "parameters": [_LIMIT],
            "responses": {
                "200": _ok("#/components/schemas/BlockList", "the blocks"),
                "400": _bad("a bad limit"),
            },
        }},
    },
    "components": {"schemas": {
        "PoolSummary": _SUMMARY,
        "Worker": _WORKER,
        "WorkerList": _obj(["workers"], {
            "workers": {"type": "array", "items": {"$ref": "#/components/schemas/Worker"}},
        }),
        "Block": _BLOCK,
        "BlockList": _obj(["blocks"], {
            "blocks": {"type": "array", "items": {"$ref": "#/components/schemas/Block"}},
        }),
        "Error": _ERROR,
    }},
}  # fmt: skip


# ---------------------------------------------------------------------- the HTTP shell


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, allow_nan=False), status=status,
                        content_type="application/json")  # fmt: skip


class StatsApi:
    """Serves a PoolView over HTTP on the event loop."""

    def __init__(self, view: PoolView, config: StatsApiConfig | None = None) -> None:
        self.view = view
        self.config = config or StatsApiConfig()
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        r = app.router
        r.add_get(f"{API_PREFIX}/pool", self.pool)
        r.add_get(f"{API_PREFIX}/workers", self.workers)
        r.add_get(f"{API_PREFIX}/workers/{{worker}}", self.worker)
        r.add_get(f"{API_PREFIX}/blocks", self.blocks)
        r.add_get("/openapi.json", self.openapi)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except BadRequest as exc:
            response = _json({"error": str(exc)}, 400)
        except web.HTTPException as exc:
            response = _json({"error": exc.reason}, exc.status)
        if self.config.cors_origin:
            response.headers["Access-Control-Allow-Origin"] = self.config.cors_origin
        return response

    async def pool(self, request: web.Request) -> web.Response:
        return _json(self.view.summary())

    async def workers(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit"))
        return _json({"workers": self.view.worker_list(limit)})

    async def worker(self, request: web.Request) -> web.Response:
        name = request.match_info["worker"]
        row = self.view.worker(name)
        if row is None:
            return _json({"error": f"no worker {name!r}"}, 404)
        return _json(row)

    async def blocks(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit"))
        return _json({"blocks": self.view.block_list(limit)})

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(OPENAPI)

    async def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host if host is None else host,
                           self.config.port if port is None else port)  # fmt: skip
        try:
            await site.start()
        except OSError:  # the port is taken: release the runner, report the bind
            await self.close()
            raise
        bound = self.runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info("stats API on http://%s:%d%s/pool", self.address[0], self.address[1],
                 API_PREFIX)  # fmt: skip
        return self.address

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
